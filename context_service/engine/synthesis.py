"""One synthesis: candidates -> filter -> score -> dedupe -> allocate -> render -> verify.

Scoring (per lane, every component 0..1, so lanes are comparable)::

    score = (w_severity*severity + w_confidence*confidence + w_priority*priority
             + w_recency*recency + w_pinned_boost*pinned) / (sum of the five weights)
    recency = 0.5 ** (age_hours / half_life_hours)   (1 when the lane does not decay)
    age = reference time - observed_at (else created_at, the time it was first stored)

Candidates are ordered by score, then id, so the result never depends on insertion order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

import numpy as np

from context_service.engine.allocation import Allocation, allocate
from context_service.engine.lanes import LanePolicy
from context_service.engine.manifest import COMPONENTS, DropReason, LaneTotals, ManifestEntry
from context_service.engine.render import lane_header, shorten_object
from context_service.engine.table import KINDS, CandidateTable
from context_service.engine.tokens import TokenCounter

# Outcome codes of the manifest columns; 0 is "included", the rest are drop reasons.
INCLUDED = 0
REASONS = (None, *get_args(DropReason))  # outcome code -> drop reason (0 = included)
BUDGET, FILTER, STALE, DUPLICATE, NOT_YET_OBSERVED, LANE_DISABLED, LANE_MUTED, OTHER_ASSET = range(
    1, 9
)
_MODE_CODE = {"enabled": 0, "muted": 1, "disabled": 2}


@dataclass
class Draft:
    """The text of a synthesis and the columns its manifest entries are built from."""

    text: str
    total_tokens: int
    lane_totals: dict[str, LaneTotals]
    columns: dict[str, np.ndarray]
    ids: list[str | None]
    lane_names: tuple[str, ...]

    def included_ids(self) -> list[str]:
        """The ids of the included objects in id order, without building entries."""
        c = self.columns
        return [self.ids[slot] for slot in c["slot"][c["outcome"] == INCLUDED].tolist()]  # type: ignore[misc]

    def build_entries(self, included_only: bool = False) -> list[ManifestEntry]:
        """Manifest entries in id order (built only when someone reads them); with
        ``included_only`` just the included ones, which stays cheap for large stores."""
        c = self.columns
        if included_only:
            keep = c["outcome"] == INCLUDED
            c = {name: column[keep] for name, column in c.items()}
        rows = zip(
            c["slot"].tolist(),
            c["kind"].tolist(),
            c["lane"].tolist(),
            c["score"].tolist(),
            c["severity"].tolist(),
            c["confidence"].tolist(),
            c["priority"].tolist(),
            c["recency"].tolist(),
            c["pinned"].tolist(),
            c["tokens"].tolist(),
            c["outcome"].tolist(),
            c["truncated"].tolist(),
            strict=True,
        )
        entries = []
        for slot, kind, lane, score, sev, conf, prio, rec, pin, tokens, outcome, cut in rows:
            entries.append(
                ManifestEntry.model_construct(
                    id=self.ids[slot],
                    kind=KINDS[kind],
                    lane=self.lane_names[lane] if lane >= 0 else None,
                    score=round(score, 6),
                    components=dict(
                        zip(COMPONENTS, (sev, conf, prio, round(rec, 6), pin), strict=True)
                    ),
                    tokens=tokens,
                    outcome="included" if outcome == INCLUDED else "dropped",
                    reason=REASONS[outcome],
                    truncated=cut,
                )
            )
        return entries


def _lane_columns(lanes: Sequence[LanePolicy]) -> dict[str, np.ndarray]:
    """Per-lane parameters as arrays, with one extra row (index -1) for "no lane"."""
    rows = [*lanes]
    columns = {
        "w_severity": [lane.weights.w_severity for lane in rows],
        "w_confidence": [lane.weights.w_confidence for lane in rows],
        "w_priority": [lane.weights.w_priority for lane in rows],
        "w_recency": [lane.weights.w_recency for lane in rows],
        "w_pinned": [lane.weights.w_pinned_boost for lane in rows],
        "total": [lane.weights.total for lane in rows],
        "half_life_s": [
            np.inf if lane.half_life_hours is None else lane.half_life_hours * 3600 for lane in rows
        ],
        "mode": [_MODE_CODE[lane.mode] for lane in rows],
    }
    filler = {"total": 1.0, "half_life_s": np.inf, "mode": -1}
    return {name: np.array([*values, filler.get(name, 0.0)]) for name, values in columns.items()}


def draft(
    table: CandidateTable,
    lanes: Sequence[LanePolicy],
    counter: TokenCounter,
    budget: int,
    as_of: datetime | None,
    reference: datetime,
    assets: Iterable[str] | None = None,
) -> Draft:
    """Select, render and verify the working memory for ``budget`` tokens.

    With ``assets`` (the bases of the pair being decided), objects tagged with other assets
    only are left out (``other-asset``); untagged objects concern the whole market."""
    slots, order = table.live_slots()
    tokens_all = table.tokens_for(counter)[slots]
    lane = table.lane[slots].astype(np.int64)
    params = _lane_columns(lanes)
    at = lane  # index -1 picks the "no lane" row

    # -- visibility ------------------------------------------------------------------------
    observed = table.observed[slots]
    until = table.until[slots]
    moment = reference.timestamp()
    outcome = np.zeros(slots.size, dtype=np.int8)
    if as_of is not None:
        outcome[np.isnan(observed) | (observed > moment)] = NOT_YET_OBSERVED
    outcome[(outcome == 0) & (until <= moment)] = STALE

    # -- scores ----------------------------------------------------------------------------
    born = table.born[slots]
    age = np.maximum(moment - np.nan_to_num(born, nan=moment), 0.0)
    half_life = params["half_life_s"][at]
    with np.errstate(invalid="ignore"):
        recency = np.where(np.isinf(half_life), 1.0, np.exp2(-age / half_life))
    recency = np.where(np.isnan(born) & ~np.isinf(half_life), 0.0, recency)
    recency = np.where(lane < 0, 0.0, recency)
    severity, confidence = table.severity[slots], table.confidence[slots]
    priority, pinned = table.priority[slots], table.pinned[slots]
    score = (
        params["w_severity"][at] * severity
        + params["w_confidence"][at] * confidence
        + params["w_priority"][at] * priority
        + params["w_recency"][at] * recency
        + params["w_pinned"][at] * pinned
    ) / params["total"][at]
    score = np.clip(score, 0.0, 1.0)

    # -- lanes -----------------------------------------------------------------------------
    mode = params["mode"][at]
    visible = outcome == 0
    outcome[visible & (lane < 0)] = FILTER
    outcome[visible & (mode == _MODE_CODE["disabled"])] = LANE_DISABLED
    outcome[visible & (mode == _MODE_CODE["muted"])] = LANE_MUTED
    if assets is not None:
        bits = table.asset_bits[slots]
        wanted = np.uint64(table.asset_mask(assets))
        outcome[(outcome == 0) & (bits != 0) & ((bits & wanted) == 0)] = OTHER_ASSET

    # -- order and near-duplicates ---------------------------------------------------------
    rank = table.id_rank()[slots]
    candidates = np.flatnonzero(outcome == 0)
    candidates = candidates[np.lexsort((rank[candidates], -score[candidates]))]
    groups = table.group[slots][candidates]
    _, first = np.unique(groups, return_index=True)
    keep = np.zeros(candidates.size, dtype=bool)
    keep[first] = True
    outcome[candidates[~keep]] = DUPLICATE
    candidates = candidates[keep]

    # -- allocation ------------------------------------------------------------------------
    header_tokens = [counter.count_fixed(lane_header(policy.name)) for policy in lanes]
    cand_slots = slots[candidates].tolist()

    def shorten(position: int, max_tokens: int) -> tuple[str, int] | None:
        obj = table.objects[cand_slots[position]]
        return shorten_object(obj, max_tokens, counter)

    allocation = allocate(
        budget, lanes, lane[candidates], tokens_all[candidates], header_tokens, shorten
    )
    chosen = list(allocation.picked)

    # -- render and verify -----------------------------------------------------------------
    def render(picked: list[int]) -> str:
        by_lane: dict[int, list[str]] = {}
        for position in picked:  # positions are in score order already
            line = allocation.shortened.get(position) or table.lines[cand_slots[position]]
            by_lane.setdefault(int(lane[candidates[position]]), []).append(line)  # type: ignore[arg-type]
        parts = []
        for lane_index, policy in enumerate(lanes):
            if lane_index in by_lane:
                parts.append(lane_header(policy.name))
                parts.extend(by_lane[lane_index])
        return "".join(parts)

    text = render(chosen)
    total_tokens = counter.count_document(text)
    while total_tokens > budget and chosen:  # counts are additive by design; this is the guard
        chosen.pop(min(range(len(chosen)), key=lambda i: (score[candidates[chosen[i]]], -i)))
        text = render(chosen)
        total_tokens = counter.count_document(text)

    # -- manifest columns ------------------------------------------------------------------
    included = np.zeros(candidates.size, dtype=bool)
    included[chosen] = True
    outcome[candidates[~included]] = BUDGET
    tokens_out = tokens_all.copy()
    truncated = np.zeros(slots.size, dtype=bool)
    for position in allocation.shortened:
        tokens_out[candidates[position]] = allocation.cost[position]
        truncated[candidates[position]] = bool(included[position])
    section_tokens = list(header_tokens)
    for position in chosen:
        section_tokens[int(lane[candidates[position]])] += allocation.cost[position]
    lane_totals = _lane_totals(lanes, lane, outcome, truncated, section_tokens, allocation)
    columns = {
        "slot": slots[order],
        "kind": table.kind[slots][order],
        "lane": lane[order],
        "score": score[order],
        "severity": severity[order],
        "confidence": confidence[order],
        "priority": priority[order],
        "recency": recency[order],
        "pinned": pinned[order],
        "tokens": tokens_out[order],
        "outcome": outcome[order],
        "truncated": truncated[order],
    }
    names = tuple(policy.name for policy in lanes)
    return Draft(text, total_tokens, lane_totals, columns, list(table.ids), names)


def _lane_totals(
    lanes: Sequence[LanePolicy],
    lane: np.ndarray,
    outcome: np.ndarray,
    truncated: np.ndarray,
    section_tokens: list[int],
    allocation: Allocation,
) -> dict[str, LaneTotals]:
    totals = {}
    for index, policy in enumerate(lanes):
        in_lane = lane == index
        considered = in_lane & (outcome != STALE) & (outcome != NOT_YET_OBSERVED)
        included = int(np.count_nonzero(in_lane & (outcome == INCLUDED)))
        candidates = int(np.count_nonzero(considered))
        totals[policy.name] = LaneTotals(
            mode=policy.mode,
            candidates=candidates,
            included=included,
            dropped=candidates - included,
            truncated=int(np.count_nonzero(in_lane & truncated)),
            tokens=section_tokens[index] if included else 0,
            floor_tokens=allocation.floor_tokens[index],
            cap_tokens=allocation.cap_tokens[index],
        )
    return totals


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
