"""The built-in verdict providers, one module each; importing this package registers them.

Chain order comes from each provider's ``fallback``: ``replay -> llm -> rules -> hold``.
"""

from context_service.verdicts.providers import hold, llm, replay, rules

__all__ = ["hold", "llm", "replay", "rules"]
