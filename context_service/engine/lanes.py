"""Lanes: which knowledge objects belong together, how they are scored and how much room
they get in the working memory.

An object lands in the FIRST lane (in the order the lanes are given) that has a selector
matching it. A lane is ``enabled`` (competes for the budget), ``muted`` (its objects are scored
and listed in the manifest but not rendered) or ``disabled`` (its objects are not considered).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from context_service.models import KnowledgeKind, KnowledgeObject

LaneMode = Literal["enabled", "muted", "disabled"]
LANE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,47}$"


class LaneWeights(BaseModel):
    """Weights of the score components; a lane's score is their weighted mean (0..1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    w_severity: float = Field(default=1.0, ge=0)
    w_confidence: float = Field(default=1.0, ge=0)
    w_priority: float = Field(default=0.0, ge=0)
    w_recency: float = Field(default=1.0, ge=0)
    w_pinned_boost: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> LaneWeights:
        if self.total <= 0:
            raise ValueError("at least one lane weight must be greater than 0")
        return self

    @property
    def total(self) -> float:
        return (
            self.w_severity
            + self.w_confidence
            + self.w_priority
            + self.w_recency
            + self.w_pinned_boost
        )


class LaneSelector(BaseModel):
    """Matches objects by kind and tags: every condition given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: frozenset[KnowledgeKind] = Field(
        default=frozenset(), description="Kinds accepted; empty accepts every kind."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags that must be equal.")
    absent: frozenset[str] = Field(
        default=frozenset(), description="Tag keys the object must NOT have (catch-alls)."
    )

    def matches(self, obj: KnowledgeObject) -> bool:
        if self.kinds and obj.kind not in self.kinds:  # type: ignore[attr-defined]
            return False
        tags = obj.tags
        if any(tags.get(key) != value for key, value in self.tags.items()):
            return False
        return not any(key in tags for key in self.absent)


class LanePolicy(BaseModel):
    """How one lane selects, scores and budgets its objects.

    ``floor`` and ``cap`` are shares of the synthesis budget (0..1). The floor is kept for the
    lane whenever it has candidates, so a flood in another lane cannot crowd it out. The cap is
    the most the lane takes while other lanes still have candidates that fit; once they have
    none, leftover budget flows to capped lanes too, unless ``strict_cap`` is set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=LANE_NAME_PATTERN)
    selectors: tuple[LaneSelector, ...] = Field(min_length=1)
    mode: LaneMode = "enabled"
    weights: LaneWeights = Field(default_factory=LaneWeights)
    half_life_hours: float | None = Field(
        default=None, gt=0, description="Recency half-life; None means no decay."
    )
    floor: float = Field(default=0.0, ge=0, le=1)
    cap: float = Field(default=1.0, gt=0, le=1)
    strict_cap: bool = False

    @model_validator(mode="after")
    def _floor_within_cap(self) -> LanePolicy:
        if self.floor > self.cap:
            raise ValueError(f"lane {self.name}: floor {self.floor} is above its cap {self.cap}")
        return self

    @field_validator("selectors", mode="before")
    @classmethod
    def _one_selector_is_a_tuple(cls, value: object) -> object:
        if isinstance(value, LaneSelector | dict):
            return (value,)
        return value

    def matches(self, obj: KnowledgeObject) -> bool:
        return any(selector.matches(obj) for selector in self.selectors)

    def with_mode(self, mode: LaneMode) -> LanePolicy:
        return self.model_copy(update={"mode": mode})


def validate_lanes(lanes: Sequence[LanePolicy]) -> tuple[LanePolicy, ...]:
    """Check a lane set: unique names, floors of the active lanes summing to at most 1."""
    lanes = tuple(lanes)
    if not lanes:
        raise ValueError("at least one lane is needed")
    names = [lane.name for lane in lanes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"lane names must be unique; repeated: {', '.join(duplicates)}")
    floors = sum(lane.floor for lane in lanes if lane.mode == "enabled")
    if floors > 1.0 + 1e-9:
        raise ValueError(f"floors of the enabled lanes add up to {floors:.2f}; at most 1.0")
    return lanes


def assign_lane(obj: KnowledgeObject, lanes: Sequence[LanePolicy]) -> int:
    """Index of the first lane whose selectors match ``obj``; -1 when none does."""
    for index, lane in enumerate(lanes):
        if lane.matches(obj):
            return index
    return -1


def _evidence_with(category: str) -> LaneSelector:
    return LaneSelector(kinds=frozenset({"evidence"}), tags={"category": category})


def default_lanes() -> list[LanePolicy]:
    """The seed design's lanes, in matching order."""
    return [
        LanePolicy(
            name="risk-factors",
            selectors=(LaneSelector(kinds=frozenset({"constraint"})), _evidence_with("risk")),
            weights=LaneWeights(w_severity=2, w_confidence=1, w_priority=2, w_recency=0.5),
            half_life_hours=24 * 7,
            floor=0.15,
            cap=0.5,
        ),
        LanePolicy(
            name="strategy",
            selectors=(LaneSelector(kinds=frozenset({"goal"})),),
            weights=LaneWeights(w_severity=0, w_confidence=0, w_priority=3, w_recency=0),
            half_life_hours=None,
            floor=0.10,
            cap=0.3,
        ),
        LanePolicy(
            name="memory",
            selectors=(LaneSelector(kinds=frozenset({"insight"})),),
            weights=LaneWeights(w_severity=1, w_confidence=2, w_recency=1),
            half_life_hours=24 * 14,
            floor=0.10,
            cap=0.3,
        ),
        LanePolicy(
            name="market-data",
            selectors=(_evidence_with("market-data"),),
            weights=LaneWeights(w_severity=1, w_confidence=1, w_recency=3),
            half_life_hours=4,
            floor=0.15,
            cap=0.5,
        ),
        LanePolicy(
            name="market-events",
            selectors=(_evidence_with("event"),),
            weights=LaneWeights(w_severity=2, w_confidence=1, w_recency=1),
            half_life_hours=24,
            floor=0.05,
            cap=0.4,
        ),
        LanePolicy(
            name="news-sentiment",
            selectors=(
                _evidence_with("news"),
                LaneSelector(kinds=frozenset({"evidence"}), absent=frozenset({"category"})),
            ),
            weights=LaneWeights(w_severity=1.5, w_confidence=1, w_recency=2),
            half_life_hours=6,
            floor=0.05,
            cap=0.5,
        ),
    ]
