"""``rules``: the deterministic TA policy (:class:`~context_service.verdicts.rules.RulesPolicy`),
the offline default and the LLM's fallback."""

from __future__ import annotations

from context_service.verdicts.provider import Ask, Decision, VerdictProvider, register
from context_service.verdicts.rules import RulesPolicy


@register
class RulesProvider(VerdictProvider):
    """Reads only the request's TA snapshot: reproducible, free, no look-ahead."""

    name = "rules"
    summary = "deterministic trend/momentum policy on the request's TA snapshot"
    needs = "nothing"

    def __init__(self, policy: RulesPolicy | None = None) -> None:
        self.policy = policy or RulesPolicy()

    def decide(self, ask: Ask) -> Decision:
        return self.policy.decide(ask.request)
