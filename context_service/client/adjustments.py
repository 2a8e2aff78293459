"""The strategy's view of LLM adjustments: the set the sidecar handed over, and what it did.

Each verdict carries the bot's adjustments in force as of its decision (``Verdict.adjustments``,
``CTX_APPLY_ADJUSTMENTS`` on the sidecar). :class:`HeldAdjustments` keeps the newest such set
(merged across the verdicts of one candle); at each entry the strategy asks it what is in force
at that moment, within the bot's own limits (its knowledge file's ``adjustments:`` section, or
the defaults), so an expired adjustment stops even when no new verdict comes. A verdict without
a readable set means none is applied: the bot's own settings, never anything looser.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from context_service.adjustments import (
    DEFAULT_LIMITS,
    Adjustment,
    AdjustmentLimits,
    InForce,
    in_force,
)
from context_service.contract import Verdict

if TYPE_CHECKING:
    from context_service.client.factory import StrategyContext
    from context_service.client.state import StrategyState

logger = logging.getLogger(__name__)

NOTHING = InForce()


class HeldAdjustments:
    """The adjustments of the newest verdict's candle (an older candle's never replace them;
    the verdicts of one candle are merged, a verdict without a readable set clears them)."""

    def __init__(self) -> None:
        self._candle: datetime | None = None
        self._held: dict[tuple[str, str | None, str], Adjustment] | None = None

    def receive(self, verdict: Verdict) -> None:
        if self._candle is not None and verdict.candle_time < self._candle:
            return  # a late answer about an older candle knows less
        same_candle = verdict.candle_time == self._candle
        self._candle = verdict.candle_time
        if verdict.adjustments is None:
            if self._held:
                logger.warning("verdict %s has no adjustments: none applied", verdict.verdict_id)
            self._held = None
            return
        held = dict(self._held or {}) if same_candle else {}
        for adjustment in verdict.adjustments:
            held[(*adjustment.key, adjustment.verdict_id)] = adjustment
        self._held = held

    def at(self, moment: datetime, limits: AdjustmentLimits) -> InForce:
        """What is in force at ``moment`` within ``limits`` (nothing when nothing is known);
        anything outside the limits is left out and logged."""
        if not self._held:
            return NOTHING
        found = in_force(self._held.values(), moment, limits)
        for adjustment, why in found.dropped:
            logger.warning("adjustment %s not applied: %s", adjustment.describe(), why)
        return found

    def reset(self) -> None:
        self._candle = None
        self._held = None


@dataclass
class AdjustmentStats:
    """What the adjustments did in a run (the backtest summary)."""

    applied: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str) -> None:
        self.applied[kind] += 1

    @property
    def total(self) -> int:
        return sum(self.applied.values())

    def as_dict(self) -> dict[str, object]:
        return {"applied": self.total, "by_kind": dict(self.applied)}


def adjustment_limits(knowledge_file: Path | None) -> AdjustmentLimits:
    """The knowledge file's ``adjustments`` limits, else the defaults; a bad section raises
    :class:`~context_service.knowledge.KnowledgeFileError`."""
    if knowledge_file is None:
        return DEFAULT_LIMITS
    from context_service.knowledge import load_adjustment_limits

    return load_adjustment_limits(knowledge_file) or DEFAULT_LIMITS


def held_in_force(ctx: StrategyContext | None, state: StrategyState, moment: datetime) -> InForce:
    """The adjustments ``state`` holds that are in force at ``moment``, within the bot's limits
    resolved against the gate's threshold (nothing without a gate)."""
    if ctx is None or ctx.gate is None:
        return NOTHING
    limits = ctx.adjustment_limits.resolved(ctx.gate.min_confidence)
    return state.adjustments.at(moment, limits)
