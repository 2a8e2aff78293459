"""The strategy's adjustment hooks, as a mixin of ``ContextGatedStrategy`` (one concept per module).

The LLM's adjustments in force (``client/adjustments.py``) act in three places, each logged,
counted and never looser than the bot's limits: ``pause_pair`` refuses an entry on its pair
(``paused by adjustment``); ``min_confidence`` replaces the verdict threshold of an entry;
``stake_fraction`` scales the stake after the regime response and before the budget check (only
ever down). Exits never depend on them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from context_service.adjustments import InForce
from context_service.client.adjustments import held_in_force
from context_service.client.gate import GateAnswer
from context_service.client.regime_hooks import RegimeHooks
from context_service.risk.refusals import Refusal

logger = logging.getLogger(__name__)


class AdjustmentHooks(RegimeHooks):
    """Needs the strategy's ``ctx``, ``state`` and ``min_verdict_confidence`` (an
    ``IStrategy`` for the reason :class:`RegimeHooks` gives)."""

    def _sync_gate(self) -> None:
        """The gate's threshold from the parameter (a hyperopt epoch sets its own), and the
        limits every verdict request carries, resolved against it."""
        gate = self.ctx.gate
        gate.min_confidence = float(self.min_verdict_confidence.value)
        gate.adjustment_limits = self.ctx.adjustment_limits.resolved(gate.min_confidence)

    def _adjustments_at(self, moment: datetime) -> InForce:
        return held_in_force(self.ctx, self.state, moment)

    def _applied(self, kind: str, message: str, *args: object) -> None:
        self.ctx.stats.adjustments.record(kind)
        logger.log(logging.DEBUG if self.ctx.in_process else logging.INFO, message, *args)

    def _adjustment_pauses(self, pair: str, moment: datetime) -> bool:
        """True (the entry refused and counted) while an adjustment pauses ``pair``."""
        pause = self._adjustments_at(moment).paused.get(pair)
        if pause is None:
            return False
        self._applied("pause_pair", "entry on %s paused by adjustment: %s", pair, pause.reason)
        return not self.ctx.refuse(pair, Refusal.adjustment_paused, detail=pause.describe())

    def _adjusted_answer(self, pair: str, moment: datetime, answer: GateAnswer) -> GateAnswer:
        """The gate's answer under an adjusted ``min_confidence``: a buy below a raised
        threshold is refused, one at or above a lowered threshold (within the limits) passes."""
        adjustment = self._adjustments_at(moment).min_confidence
        verdict = answer.verdict
        if adjustment is None or adjustment.value is None or verdict is None:
            return answer
        threshold = adjustment.value
        if answer.allowed and verdict.confidence < threshold:
            self._applied(
                "min_confidence",
                "entry on %s refused: confidence %g below the adjusted minimum %g",
                pair,
                verdict.confidence,
                threshold,
            )
            return GateAnswer(False, Refusal.adjusted_low_confidence, verdict)
        if answer.refusal == Refusal.low_confidence and verdict.confidence >= threshold:
            self._applied(
                "min_confidence",
                "entry on %s allowed: confidence %g meets the adjusted minimum %g",
                pair,
                verdict.confidence,
                threshold,
            )
            return GateAnswer(True, None, verdict)
        return answer

    def _adjusted_stake(
        self, pair: str, moment: datetime, stake: float, min_stake: float | None
    ) -> float:
        """``stake`` (already regime-scaled) times the ``stake_fraction`` in force, remembered
        as this entry's sized stake for the budget check (0: under the minimum)."""
        adjustment = self._adjustments_at(moment).stake_fraction
        if stake <= 0 or adjustment is None or adjustment.value is None or adjustment.value >= 1:
            return stake
        scaled = stake * adjustment.value  # a fraction of at most 1: only ever down
        if min_stake and scaled < min_stake:
            self.ctx.stats.refuse(Refusal.adjustment_min_stake)
            return 0.0
        self.state.sized[pair] = scaled
        return scaled

    def _adjustment_entry_confirmed(self, pair: str, moment: datetime) -> None:
        """Count (and log) an entry that went ahead with an adjusted stake."""
        adjustment = self._adjustments_at(moment).stake_fraction
        if adjustment is not None and adjustment.value is not None and adjustment.value < 1:
            self._applied(
                "stake_fraction", "stake on %s scaled x%g by adjustment", pair, adjustment.value
            )
