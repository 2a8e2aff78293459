"""What a synthesis returns: the text and a manifest that explains every candidate.

Manifests of large stores hold tens of thousands of entries. The engine hands them over as
compact columns and :class:`ManifestEntry` objects are built only when ``entries`` is first
read (or the manifest is serialised), so synthesis stays fast when nobody looks at them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    computed_field,
    model_validator,
)

Outcome = Literal["included", "dropped"]
DropReason = Literal[
    "budget",
    "filter",
    "stale",
    "duplicate",
    "not-yet-observed",
    "lane-disabled",
    "lane-muted",
    "other-asset",
]
COMPONENTS = ("severity", "confidence", "priority", "recency", "pinned")


class ManifestEntry(BaseModel):
    """One candidate object: where it went and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: str
    lane: str | None = Field(description="Lane the object matched; None when none matched.")
    score: float = Field(ge=0, le=1)
    components: dict[str, float] = Field(description="severity/confidence/priority/recency/pinned")
    tokens: int = Field(ge=0, description="Tokens of its rendered line (after any shortening).")
    outcome: Outcome
    reason: DropReason | None = None
    truncated: bool = False


class LaneTotals(BaseModel):
    """Per-lane figures of one synthesis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str
    candidates: int = Field(ge=0, description="Visible objects that matched this lane.")
    included: int = Field(ge=0)
    dropped: int = Field(ge=0)
    truncated: int = Field(ge=0)
    tokens: int = Field(ge=0, description="Tokens of the lane's section, header included.")
    floor_tokens: int = Field(ge=0)
    cap_tokens: int = Field(ge=0)


class EntrySource(Protocol):
    """What a manifest builds its entries from (the engine's draft of the synthesis)."""

    def build_entries(self, included_only: bool = False) -> list[ManifestEntry]: ...

    def included_ids(self) -> list[str]: ...


class Manifest(BaseModel):
    """The audit record of one synthesis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_id: str
    engine_version: str
    model: str
    encoding: str
    budget: int
    as_of: AwareDatetime | None
    scored_at: AwareDatetime = Field(description="Recency reference: as_of, else now.")
    total_tokens: int
    content_hash: str
    lanes: dict[str, LaneTotals]

    _entries: list[ManifestEntry] | None = PrivateAttr(default=None)
    # The engine's draft, set by the engine so entries are built only when read (and the
    # included ids read from its columns without building any); dropped once all are built.
    _draft: EntrySource | None = PrivateAttr(default=None)
    _included: list[ManifestEntry] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _accept_entries(cls, data: Any, handler: Any) -> Manifest:
        """Manifests read back from JSON carry their entries as a plain field."""
        entries = None
        if isinstance(data, dict) and "entries" in data:
            data = dict(data)
            entries = data.pop("entries")
        manifest = handler(data)
        if entries is not None:
            manifest._entries = [ManifestEntry.model_validate(item) for item in entries]
        return manifest

    @computed_field  # type: ignore[prop-decorator]
    @property
    def entries(self) -> list[ManifestEntry]:
        """Every candidate, ordered by object id."""
        if self._entries is None:
            self._entries = self._draft.build_entries(False) if self._draft else []
            self._draft = None
        return self._entries

    def entry(self, object_id: str) -> ManifestEntry | None:
        return next((item for item in self.entries if item.id == object_id), None)

    def included_entries(self) -> list[ManifestEntry]:
        """The included candidates, in id order; the dropped ones are not even built."""
        if self._included is None:
            if self._entries is None and self._draft is not None:
                self._included = self._draft.build_entries(True)
            else:
                self._included = [item for item in self.entries if item.outcome == "included"]
        return self._included

    def included_ids(self) -> list[str]:
        """The included ids in id order (what every verdict's audit entry lists)."""
        if self._included is None and self._draft is not None:
            return self._draft.included_ids()
        return [item.id for item in self.included_entries()]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]


def manifest_id_for(content_hash: str, as_of: datetime | None, budget: int) -> str:
    """Deterministic id: the same text, as-of time and budget give the same id."""
    moment = as_of.isoformat() if as_of else "live"
    return hashlib.sha256(f"{content_hash}|{moment}|{budget}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Synthesis:
    """The working-memory text for the LLM and the manifest that explains it."""

    text: str
    manifest: Manifest
