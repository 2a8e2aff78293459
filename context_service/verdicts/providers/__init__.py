"""The built-in verdict providers, one module each; importing this package registers them.

Chain order comes from each provider's ``fallback``: ``replay -> llm -> rules -> hold``.
``random`` is the control gate of ``evaluate`` (a chain of its own: ``random -> hold``).
"""

from context_service.verdicts.providers import hold, llm, random, replay, rules

__all__ = ["hold", "llm", "random", "replay", "rules"]
