"""Context service: token-budgeted, point-in-time LLM verdicts for Freqtrade bots."""

__version__ = "0.1.0"
