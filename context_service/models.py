"""Knowledge objects: everything a bot knows, as scored, dated, validated records.

Four kinds share one base: :class:`Evidence` (news, events, market data, risk factors),
:class:`Goal` (what the strategy is trying to achieve), :class:`Constraint` (rules it must keep)
and :class:`Insight` (what trade memory concluded). Every datetime is timezone-aware and stored
in UTC; a naive datetime is a validation error, never a silent guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from context_service.bounds import FINITE, EventTime, HorizonTime

OBJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$"
TAG_KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # always fullmatch
MAX_TAGS = 32


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Priority(StrEnum):
    """p0 is the most important, p3 the least."""

    p0 = "p0"
    p1 = "p1"
    p2 = "p2"
    p3 = "p3"


# Confidence may be given as a label; it is stored as the number it stands for.
CONFIDENCE_LABELS: dict[str, float] = {
    "very-low": 0.1,
    "low": 0.3,
    "medium": 0.5,
    "high": 0.8,
    "very-high": 0.95,
}

# Normalised 0..1 weights used by lane scoring.
SEVERITY_SCORE: dict[Severity, float] = {
    Severity.low: 0.25,
    Severity.medium: 0.5,
    Severity.high: 0.75,
    Severity.critical: 1.0,
}
PRIORITY_SCORE: dict[Priority, float] = {
    Priority.p0: 1.0,
    Priority.p1: 0.75,
    Priority.p2: 0.5,
    Priority.p3: 0.25,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A timezone-aware datetime converted to UTC; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (e.g. 2024-05-03T14:05:00Z)")
    return value.astimezone(UTC)


class Provenance(BaseModel):
    """Where a piece of knowledge came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Annotated[str, Field(min_length=1, max_length=128)]
    reference: Annotated[str | None, Field(default=None, max_length=2048)] = None

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("provenance source must not be blank")
        return value


class KnowledgeObject(BaseModel):
    """Fields shared by every kind of knowledge object."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, **FINITE)

    id: Annotated[str, Field(pattern=OBJECT_ID_PATTERN, description="Stable id; upsert key.")]
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    detail: Annotated[str | None, Field(default=None, max_length=20_000)] = None
    tags: dict[str, str] = Field(default_factory=dict)
    provenance: Provenance
    observed_at: EventTime | None = Field(
        default=None, description="When this became known. Undated objects never enter as-of mode."
    )
    valid_until: HorizonTime | None = None
    created_at: EventTime | None = None
    updated_at: EventTime | None = None
    pinned: bool = False

    @field_validator("summary")
    @classmethod
    def _summary_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("summary must not be empty or whitespace")
        return value

    @field_validator("tags")
    @classmethod
    def _tags_well_formed(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags")
        for key, value in tags.items():
            if not TAG_KEY_PATTERN.fullmatch(key):
                raise ValueError(f"tag key {key!r} must match {TAG_KEY_PATTERN.pattern}")
            if len(value) > 256:
                raise ValueError(f"tag {key!r} value longer than 256 characters")
        return tags

    @field_validator("observed_at", "valid_until", "created_at", "updated_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _validity_window(self) -> KnowledgeObject:
        if self.observed_at and self.valid_until and self.valid_until <= self.observed_at:
            raise ValueError("valid_until must be later than observed_at")
        return self

    # -- point in time -------------------------------------------------------------------
    def visible_at(self, as_of: datetime | None, now: datetime | None = None) -> bool:
        """True when this object may enter a decision made at ``as_of``.

        With ``as_of`` (backtests, audits): only dated objects observed at or before it and
        still valid then. Without it (live): anything not expired at ``now``.
        """
        if as_of is None:
            moment = now or utcnow()
            return self.valid_until is None or self.valid_until > moment
        if self.observed_at is None or self.observed_at > as_of:
            return False
        return self.valid_until is None or self.valid_until > as_of


class Evidence(KnowledgeObject):
    """Something observed about the market: news, an event, a TA snapshot, a risk factor."""

    kind: Literal["evidence"] = "evidence"
    severity: Severity = Severity.medium
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence_label(cls, value: object) -> object:
        return _confidence_from_label(value)


class Goal(KnowledgeObject):
    """What the strategy is trying to achieve (e.g. "keep drawdown under 10%")."""

    kind: Literal["goal"] = "goal"
    priority: Priority = Priority.p2


class Constraint(KnowledgeObject):
    """A rule the bot must keep; ``hard`` constraints are enforced deterministically too."""

    kind: Literal["constraint"] = "constraint"
    priority: Priority = Priority.p1
    hard: bool = False


class Insight(KnowledgeObject):
    """A pattern trade memory concluded (e.g. "DOGE/USDT entries after 22:00 UTC lose")."""

    kind: Literal["insight"] = "insight"
    severity: Severity = Severity.medium
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    metrics: dict[str, float] = Field(default_factory=dict)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence_label(cls, value: object) -> object:
        return _confidence_from_label(value)


def _confidence_from_label(value: object) -> object:
    if isinstance(value, str):
        label = value.strip().lower()
        if label in CONFIDENCE_LABELS:
            return CONFIDENCE_LABELS[label]
        try:
            return float(label)
        except ValueError:
            known = ", ".join(CONFIDENCE_LABELS)
            raise ValueError(
                f"confidence must be a number 0..1 or one of: {known}; got {value!r}"
            ) from None
    return value


AnyKnowledge = Annotated[Evidence | Goal | Constraint | Insight, Field(discriminator="kind")]
KNOWLEDGE_ADAPTER: TypeAdapter[Evidence | Goal | Constraint | Insight] = TypeAdapter(AnyKnowledge)
KnowledgeKind = Literal["evidence", "goal", "constraint", "insight"]


def parse_knowledge(data: dict | str | bytes) -> Evidence | Goal | Constraint | Insight:
    """Validate a dict or JSON document into the right knowledge object (by ``kind``)."""
    if isinstance(data, str | bytes):
        return KNOWLEDGE_ADAPTER.validate_json(data)
    return KNOWLEDGE_ADAPTER.validate_python(data)


class MergeConflict(ValueError):
    """An upsert whose merge with the stored object would break a rule (too many tags after
    the merge, ``valid_until`` before the stored ``observed_at``...): refused, nothing written."""


def merge_upsert(
    existing: KnowledgeObject | None, incoming: KnowledgeObject, now: datetime | None = None
) -> KnowledgeObject:
    """The object to store when ``incoming`` is upserted over ``existing`` (same id).

    Fields set on the incoming object win; ``created_at`` is kept from the first version and
    ``updated_at`` moves to ``now``. Tags are merged key by key. A different kind replaces.
    Raises :class:`MergeConflict` when the merged object would be invalid.
    """
    moment = now or utcnow()
    if existing is None or existing.kind != incoming.kind:  # type: ignore[attr-defined]
        return incoming.model_copy(update={"created_at": moment, "updated_at": moment})
    changes = incoming.model_dump(exclude_unset=True, exclude={"created_at", "updated_at"})
    changes["tags"] = {**existing.tags, **incoming.tags}
    merged = existing.model_dump() | changes
    merged["created_at"] = existing.created_at or moment
    merged["updated_at"] = moment
    try:
        return type(incoming).model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}" for e in exc.errors()
        )
        raise MergeConflict(
            f"object {incoming.id!r} cannot be merged with the stored version: {problems}"
        ) from None
