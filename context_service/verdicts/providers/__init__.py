"""The built-in verdict providers, one module each; importing this package registers them.

Chain order comes from each provider's ``fallback``: ``replay -> llm -> rules -> hold``;
``memory-rules`` falls back to ``rules``. ``random`` is the control gate of ``evaluate`` (a
chain of its own: ``random -> hold``).
"""

from context_service.verdicts.providers import hold, llm, memory_rules, random, replay, rules

__all__ = ["hold", "llm", "memory_rules", "random", "replay", "rules"]
