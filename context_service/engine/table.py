"""The engine's column store of prepared candidates.

Everything about an object that does not depend on the moment of synthesis (its lane, the
static score components, its rendered line and that line's token count per encoding) is
computed once when the object is upserted and kept here in numpy columns, one slot per object.
Synthesis then scores, filters and orders tens of thousands of candidates with a handful of
vectorised operations instead of a Python loop over pydantic objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import get_args

import numpy as np

from context_service.engine.lanes import LanePolicy, assign_lane
from context_service.engine.render import dedup_key, render_line
from context_service.engine.tokens import TokenCounter
from context_service.models import PRIORITY_SCORE, SEVERITY_SCORE, KnowledgeKind, KnowledgeObject

KINDS: tuple[str, ...] = get_args(KnowledgeKind)
_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
UNKNOWN_TOKENS = -1
# Assets an object is about (its ``assets`` tag, e.g. "BTC,ETH") as bits of one uint64: the
# first 63 assets seen get a bit each, any later one shares the last bit (it then matches a
# little too often, never too rarely).
ASSET_BITS = 64


def static_components(obj: KnowledgeObject) -> tuple[float, float, float, float]:
    """(severity, confidence, priority, pinned), each 0..1.

    Kinds lack some fields, so each stands in for the other: evidence and insights have no
    priority (their severity stands in), goals and constraints have no severity (their
    priority stands in; a hard constraint counts as critical) and are stated, not estimated
    (confidence 1).
    """
    kind = obj.kind  # type: ignore[attr-defined]
    pinned = 1.0 if obj.pinned else 0.0
    if kind in ("evidence", "insight"):
        severity = SEVERITY_SCORE[obj.severity]  # type: ignore[attr-defined]
        return severity, float(obj.confidence), severity, pinned  # type: ignore[attr-defined]
    priority = PRIORITY_SCORE[obj.priority]  # type: ignore[attr-defined]
    severity = 1.0 if kind == "constraint" and obj.hard else priority  # type: ignore[attr-defined]
    return severity, 1.0, priority, pinned


def _timestamp(value, missing: float) -> float:
    return missing if value is None else value.timestamp()


class CandidateTable:
    """Prepared objects in slots; slots of deleted objects are reused."""

    def __init__(self, lanes: Sequence[LanePolicy], capacity: int = 256) -> None:
        self.lanes = tuple(lanes)
        self.capacity = 0
        self.slot_of: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.objects: list[KnowledgeObject | None] = []
        self.lines: list[str | None] = []
        self._free: list[int] = []
        self._groups: dict[str, int] = {}
        self._rank: np.ndarray | None = None
        self._live: tuple[np.ndarray, np.ndarray] | None = None  # see live_slots()
        self.tokens: dict[str, np.ndarray] = {}
        self.alive = np.zeros(0, dtype=bool)
        self.lane = np.zeros(0, dtype=np.int16)
        self.kind = np.zeros(0, dtype=np.int8)
        self.severity = np.zeros(0)
        self.confidence = np.zeros(0)
        self.priority = np.zeros(0)
        self.pinned = np.zeros(0)
        self.observed = np.zeros(0)
        self.until = np.zeros(0)
        self.born = np.zeros(0)  # recency is measured from here: observed_at, else created_at
        self.group = np.zeros(0, dtype=np.int64)
        self.asset_bits = np.zeros(0, dtype=np.uint64)
        self._asset_bit: dict[str, int] = {}
        self._grow(capacity)

    def __len__(self) -> int:
        return len(self.slot_of)

    # -- storage ---------------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        extra = capacity - self.capacity
        if extra <= 0:
            return

        def widen(array: np.ndarray, fill: float | int | bool) -> np.ndarray:
            return np.concatenate([array, np.full(extra, fill, dtype=array.dtype)])

        self.alive = widen(self.alive, False)
        self.lane = widen(self.lane, -1)
        self.kind = widen(self.kind, 0)
        self.severity = widen(self.severity, 0.0)
        self.confidence = widen(self.confidence, 0.0)
        self.priority = widen(self.priority, 0.0)
        self.pinned = widen(self.pinned, 0.0)
        self.observed = widen(self.observed, math.nan)
        self.until = widen(self.until, math.inf)
        self.born = widen(self.born, math.nan)
        self.group = widen(self.group, -1)
        self.asset_bits = widen(self.asset_bits, 0)
        self.tokens = {name: widen(column, UNKNOWN_TOKENS) for name, column in self.tokens.items()}
        self.ids.extend([None] * extra)
        self.objects.extend([None] * extra)
        self.lines.extend([None] * extra)
        self._free.extend(range(self.capacity + extra - 1, self.capacity - 1, -1))
        self.capacity += extra

    def put(self, obj: KnowledgeObject, counter: TokenCounter | None = None) -> int:
        """Store (or replace) ``obj``; its line is counted with ``counter`` when given."""
        line = render_line(obj)
        slot = self.slot_of.get(obj.id)
        if slot is None:
            if not self._free:
                self._grow(max(256, self.capacity * 2))
            slot = self._free.pop()
            self.slot_of[obj.id] = slot
            self.ids[slot] = obj.id
            self._rank = None
            self._live = None
        if self.lines[slot] != line:  # token counts are kept while the rendered line is equal
            for column in self.tokens.values():
                column[slot] = UNKNOWN_TOKENS
        self.objects[slot] = obj
        self.lines[slot] = line
        self.alive[slot] = True
        self.lane[slot] = assign_lane(obj, self.lanes)
        self.kind[slot] = _KIND_CODE[obj.kind]  # type: ignore[attr-defined]
        (
            self.severity[slot],
            self.confidence[slot],
            self.priority[slot],
            self.pinned[slot],
        ) = static_components(obj)
        self.observed[slot] = _timestamp(obj.observed_at, math.nan)
        self.until[slot] = _timestamp(obj.valid_until, math.inf)
        self.born[slot] = _timestamp(obj.observed_at or obj.created_at, math.nan)
        self.group[slot] = self._groups.setdefault(dedup_key(obj), len(self._groups))
        self.asset_bits[slot] = self._bits(obj.tags.get("assets", "").split(","), create=True)
        if counter is not None:
            self.token_column(counter.encoding_name)[slot] = counter.count(line)
        return slot

    def remove(self, object_id: str) -> bool:
        slot = self.slot_of.pop(object_id, None)
        if slot is None:
            return False
        self.ids[slot] = self.objects[slot] = self.lines[slot] = None
        self.alive[slot] = False
        self.lane[slot] = -1
        self.asset_bits[slot] = 0
        for column in self.tokens.values():
            column[slot] = UNKNOWN_TOKENS
        self._free.append(slot)
        self._rank = None
        self._live = None
        return True

    def get(self, object_id: str) -> KnowledgeObject | None:
        slot = self.slot_of.get(object_id)
        return None if slot is None else self.objects[slot]

    def set_lanes(self, lanes: Sequence[LanePolicy]) -> None:
        """Use new lane policies: every object is matched to its lane again."""
        self.lanes = tuple(lanes)
        for slot in self.slot_of.values():
            self.lane[slot] = assign_lane(self.objects[slot], self.lanes)  # type: ignore[arg-type]

    def asset_mask(self, assets) -> int:
        """The bits of ``assets`` (0 when none of them was ever tagged)."""
        return self._bits(assets, create=False)

    def _bits(self, assets, create: bool) -> int:
        mask = 0
        for asset in assets:
            asset = asset.strip().upper()
            if not asset:
                continue
            bit = self._asset_bit.get(asset)
            if bit is None:
                if not create:
                    continue
                bit = self._asset_bit[asset] = min(len(self._asset_bit), ASSET_BITS - 1)
            mask |= 1 << bit
        return mask

    # -- derived columns -------------------------------------------------------------------
    def token_column(self, encoding_name: str) -> np.ndarray:
        if encoding_name not in self.tokens:
            self.tokens[encoding_name] = np.full(self.capacity, UNKNOWN_TOKENS, dtype=np.int64)
        return self.tokens[encoding_name]

    def tokens_for(self, counter: TokenCounter) -> np.ndarray:
        """Token counts of every line in ``counter``'s encoding, counting only what is missing."""
        column = self.token_column(counter.encoding_name)
        missing = np.flatnonzero(self.alive & (column == UNKNOWN_TOKENS))
        if missing.size:
            slots = missing.tolist()
            counts = counter.count_many([self.lines[slot] for slot in slots])  # type: ignore[misc]
            column[missing] = counts
        return column

    def live_slots(self) -> tuple[np.ndarray, np.ndarray]:
        """The live slots and the permutation that puts them in id order; both change only
        when an object is added or removed, so syntheses in between share them (with tens of
        thousands of archived items, sorting them again each time was a good part of one)."""
        if self._live is None:
            slots = np.flatnonzero(self.alive)
            self._live = (slots, np.argsort(self.id_rank()[slots], kind="stable"))
        return self._live

    def id_rank(self) -> np.ndarray:
        """Each slot's position in id order: ties are broken by id, never by insertion order."""
        if self._rank is None:
            rank = np.full(self.capacity, -1, dtype=np.int64)
            ordered = sorted(self.slot_of.items())
            if ordered:
                slots = np.fromiter((slot for _, slot in ordered), dtype=np.int64)
                rank[slots] = np.arange(len(ordered))
            self._rank = rank
        return self._rank
