"""Bounded parameter adjustments: what an LLM suggestion may change, within which limits, when.

Exactly three parameters, each typed:

* ``min_confidence`` (a value in 0..1): the confidence a ``buy`` verdict needs to enter.
* ``stake_fraction`` (a value in (0, 1]): multiplies the entry stake, so only ever lowers it.
* ``pause_pair`` (a ``pair``, no value): no new entries on that pair.

An :class:`Adjustment` is made at a decision time ``made_at`` (the deciding verdict's ``as_of``)
and is in force for decisions in ``[made_at, expires_at)``. The newest adjustment of a parameter
(of a pair, for ``pause_pair``) supersedes the older ones, expired or not; :func:`in_force` is
that rule as of any time, so a backtest sees only what was made before its ``as_of``.

The bot's hard limits are the knowledge file's ``adjustments:`` section
(:class:`AdjustmentLimits`); without one, :data:`DEFAULT_LIMITS`: ``min_confidence`` may only be
raised (from the bot's own threshold up to 0.9), ``stake_fraction`` 0.25..1, ``pause_pair`` at
most 24 hours. A value outside the limits is refused, never clamped (an out-of-range answer says
the model misread something); an expiry past the longest allowed is shortened to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from context_service.bounds import FINITE, PAIR_PATTERN, EventTime, HorizonTime

Parameter = Literal["min_confidence", "stake_fraction", "pause_pair"]
PARAMETERS: tuple[str, ...] = get_args(Parameter)
# Longer than this is no expiry to shorten but a broken answer (e.g. "9999 years").
MAX_SUGGESTED_HOURS = 24 * 365
MAX_REASON_CHARS = 500


class PauseLimits(BaseModel):
    """``pause_pair``'s limit: the longest pause."""

    model_config = ConfigDict(extra="forbid", frozen=True, **FINITE)

    max_hours: float = Field(default=24.0, gt=0, le=MAX_SUGGESTED_HOURS)


class AdjustmentLimits(BaseModel):
    """The knowledge file's ``adjustments:`` section: inclusive bounds per parameter, or
    ``false`` (that parameter is not adjustable). ``min_confidence``'s lower bound may be
    ``null``: the bot's own threshold (raise only). The strategy sends these limits, resolved
    against its threshold (:meth:`resolved`), with every verdict request."""

    model_config = ConfigDict(extra="forbid", frozen=True, **FINITE)

    min_confidence: tuple[float | None, float] | Literal[False] = (None, 0.9)
    stake_fraction: tuple[float, float] | Literal[False] = (0.25, 1.0)
    pause_pair: PauseLimits | Literal[False] = Field(default_factory=PauseLimits)

    @field_validator("min_confidence")
    @classmethod
    def _confidence(cls, value: object) -> object:
        if isinstance(value, tuple):
            low, high = value
            if not 0 <= (high if low is None else low) <= high <= 1:
                raise ValueError("bounds must satisfy 0 <= low <= high <= 1")
        return value

    @field_validator("stake_fraction")
    @classmethod
    def _fraction(cls, value: object) -> object:
        if isinstance(value, tuple) and not 0 < value[0] <= value[1] <= 1:
            raise ValueError("bounds must satisfy 0 < low <= high <= 1 (a fraction only lowers)")
        return value

    def resolved(self, threshold: float) -> AdjustmentLimits:
        """The limits with a ``null`` lower bound of ``min_confidence`` replaced by the bot's
        ``threshold`` (above the upper bound: nothing is left to raise it to)."""
        bounds = self.min_confidence
        if bounds is False or bounds[0] is not None:
            return self
        low = min(max(threshold, 0.0), 1.0)
        return self.model_copy(update={"min_confidence": (low, max(low, bounds[1]))})

    def max_hours(self, default_max: float) -> float:
        """The longest ``pause_pair``: its limit, never past ``default_max`` (the sidecar's)."""
        pause = self.pause_pair
        return default_max if pause is False else min(default_max, pause.max_hours)

    def refusal(self, parameter: str, value: float | None) -> str | None:
        """Why ``value`` lies outside the limits of ``parameter`` (None: it is within)."""
        if parameter == "pause_pair":
            return "pause_pair is not adjustable for this bot" if self.pause_pair is False else None
        bounds = self.min_confidence if parameter == "min_confidence" else self.stake_fraction
        if bounds is False:
            return f"{parameter} is not adjustable for this bot"
        if value is None:
            return f"{parameter} needs a value"
        low = 0.0 if bounds[0] is None else bounds[0]  # unresolved: the bot checks its own
        if not low <= value <= bounds[1]:
            return f"{parameter} {value:g} outside the bot's limits [{low:g}, {bounds[1]:g}]"
        return None


DEFAULT_LIMITS = AdjustmentLimits()


class Adjustment(BaseModel):
    """One accepted adjustment, in force for decisions in ``[made_at, expires_at)``."""

    model_config = ConfigDict(extra="forbid", frozen=True, **FINITE)

    parameter: Parameter
    value: float | None = None
    pair: str | None = Field(default=None, pattern=PAIR_PATTERN)
    made_at: EventTime
    expires_at: HorizonTime
    verdict_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)

    @model_validator(mode="after")
    def _shape(self) -> Adjustment:
        problem = shape_problem(self.parameter, self.value, self.pair)
        if problem:
            raise ValueError(problem)
        if self.expires_at <= self.made_at:
            raise ValueError("expires_at must be after made_at")
        return self

    @property
    def key(self) -> tuple[str, str | None]:
        """What a newer adjustment supersedes: the parameter (and pair, for a pause)."""
        return (self.parameter, self.pair)

    def describe(self) -> str:
        what = self.pair if self.parameter == "pause_pair" else f"{self.value:g}"
        return f"{self.parameter} {what} until {self.expires_at.isoformat()}"


def shape_problem(parameter: str, value: float | None, pair: str | None) -> str | None:
    """Why the arguments do not fit the parameter, whatever the bot's limits (None: they do)."""
    if parameter == "pause_pair":
        if pair is None:
            return "pause_pair needs a pair"
        if value is not None:
            return "pause_pair takes no value"
        return None
    if pair is not None:
        return f"{parameter} takes no pair"
    if value is None:
        return f"{parameter} needs a value"
    if parameter == "min_confidence" and not 0 <= value <= 1:
        return f"min_confidence {value:g} is not in 0..1"
    if parameter == "stake_fraction" and not 0 < value <= 1:
        return f"stake_fraction {value:g} is not in (0, 1]"
    return None


def _caution(adjustment: Adjustment) -> tuple[float, str]:
    """Orders adjustments made at the same moment: the most cautious one sorts last (wins)."""
    if adjustment.parameter == "min_confidence":
        rank = adjustment.value or 0.0
    elif adjustment.parameter == "stake_fraction":
        rank = -(adjustment.value or 0.0)
    else:
        rank = adjustment.expires_at.timestamp()
    return (rank, adjustment.verdict_id)


def _expiry(adjustment: Adjustment, limits: AdjustmentLimits | None) -> datetime:
    """When it stops: a pause longer than the limits allow now ends at their longest."""
    pause = limits.pause_pair if limits is not None else False
    if adjustment.parameter != "pause_pair" or pause is False:
        return adjustment.expires_at
    return min(adjustment.expires_at, adjustment.made_at + timedelta(hours=pause.max_hours))


@dataclass(frozen=True, slots=True)
class InForce:
    """The adjustments in force at one moment, and those left out with why."""

    min_confidence: Adjustment | None = None
    stake_fraction: Adjustment | None = None
    paused: dict[str, Adjustment] = field(default_factory=dict)
    dropped: tuple[tuple[Adjustment, str], ...] = ()

    def all(self) -> list[Adjustment]:
        found = [self.min_confidence, self.stake_fraction, *self.paused.values()]
        return [a for a in found if a is not None]


def in_force(
    adjustments: Iterable[Adjustment], at: datetime, limits: AdjustmentLimits | None = None
) -> InForce:
    """The adjustments in force at ``at``: per parameter (and pair), the newest made at or
    before ``at`` (made at the same moment: the most cautious), if ``at`` is before its expiry
    (a pause: at most the limits' longest) and it lies within ``limits`` (else it is dropped,
    with why)."""
    newest: dict[tuple[str, str | None], Adjustment] = {}
    for adjustment in adjustments:
        if adjustment.made_at > at:
            continue  # made after the decision: not known then
        held = newest.get(adjustment.key)
        if (
            held is None
            or adjustment.made_at > held.made_at
            or (adjustment.made_at == held.made_at and _caution(adjustment) > _caution(held))
        ):
            newest[adjustment.key] = adjustment
    chosen: dict[str, Adjustment | None] = {"min_confidence": None, "stake_fraction": None}
    paused: dict[str, Adjustment] = {}
    dropped: list[tuple[Adjustment, str]] = []
    for key in sorted(newest, key=lambda k: (k[0], k[1] or "")):
        adjustment = newest[key]
        if at >= _expiry(adjustment, limits):
            continue
        why = limits.refusal(adjustment.parameter, adjustment.value) if limits else None
        if why is not None:
            dropped.append((adjustment, why))
        elif adjustment.parameter == "pause_pair":
            paused[adjustment.pair or ""] = adjustment
        else:
            chosen[adjustment.parameter] = adjustment
    return InForce(chosen["min_confidence"], chosen["stake_fraction"], paused, tuple(dropped))
