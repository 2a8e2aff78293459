"""``hold``: the end of every chain; it always answers, so every request gets a verdict."""

from __future__ import annotations

from context_service.contract import Action
from context_service.verdicts.provider import Ask, Decision, VerdictProvider, register


@register
class HoldProvider(VerdictProvider):
    """Vetoes the candidate with zero confidence."""

    name = "hold"
    summary = "vetoes every candidate (ends every chain)"
    needs = "nothing"
    fallback = None

    def decide(self, ask: Ask) -> Decision:
        return Decision(Action.hold, 0.0, "no provider gave a verdict; holding")
