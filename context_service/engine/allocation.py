"""Share a token budget between lanes: floors first, then the best scores, then leftovers.

1. **Floors.** Lane by lane (in lane order), the lane's best candidates are taken while they
   fit in its floor (a share of the budget). A flood in one lane cannot starve another.
2. **Scores.** All lanes together, best score first, each candidate is taken when it fits in
   what is left of the budget and of its lane's cap.
3. **Leftovers.** When budget is left but candidates were held back only by caps, lanes whose
   cap is not strict may fill it, best score first.
4. **Swaps.** A few of the lowest-scored chosen lines may be traded for longer lines of the
   same lane when that uses budget that would otherwise stay empty.
5. **Tail.** The room still left is smaller than every remaining candidate: the best of them
   is shortened (at a word boundary, with a visible marker) to fill it.

A candidate that does not fit is skipped, not a stop: a smaller one further down may still
fit. A lane stops being scanned once its room is smaller than its smallest remaining candidate.
A candidate longer than its lane's allowance (its cap minus its header) is shortened to fit.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from context_service.engine.lanes import LanePolicy

MIN_TAIL_TOKENS = 8  # below this, a shortened line would carry no words worth reading
MAX_TAIL_TRIES = 16
MAX_SWAP_POOL = 256  # unchosen candidates considered for swaps (best scores first)
MAX_SWAP_VICTIMS = 16  # chosen candidates that may be swapped out (lowest scores first)

# shorten(position, max_tokens) -> (line, tokens) or None when not even one word fits
Shortener = Callable[[int, int], tuple[str, int] | None]


@dataclass
class Allocation:
    """Result of :func:`allocate`, by position in the score-ordered candidate list."""

    chosen: list[bool]
    cost: list[int]  # tokens each candidate's line takes (after any shortening)
    picked: list[int] = field(default_factory=list)  # chosen positions, best score first
    shortened: dict[int, str] = field(default_factory=dict)  # position -> shortened line
    used: dict[int, int] = field(default_factory=dict)  # lane index -> tokens incl. header
    floor_tokens: list[int] = field(default_factory=list)
    cap_tokens: list[int] = field(default_factory=list)


def allocate(
    budget: int,
    lanes: Sequence[LanePolicy],
    lane_of: np.ndarray,
    tokens: np.ndarray,
    header_tokens: Sequence[int],
    shorten: Shortener,
) -> Allocation:
    """Choose candidates (given best first: ``lane_of``/``tokens`` by position) for ``budget``."""
    count = len(tokens)
    floor_tokens = [int(lane.floor * budget) for lane in lanes]
    cap_tokens = [int(lane.cap * budget) for lane in lanes]
    allowance = [cap - header for cap, header in zip(cap_tokens, header_tokens, strict=True)]
    cost = tokens.tolist()
    result = Allocation(
        chosen=[False] * count, cost=cost, floor_tokens=floor_tokens, cap_tokens=cap_tokens
    )
    unusable = [False] * count
    picked: set[int] = set()
    lanes_of = lane_of.tolist()
    used = [0] * len(lanes)
    total = 0

    # Candidates per lane, in score order, and the smallest cost from each one onwards.
    positions: dict[int, list[int]] = {}
    suffix_min: dict[int, list[int]] = {}
    for lane_index in np.unique(lane_of).tolist():
        lane_positions = np.flatnonzero(lane_of == lane_index)
        # A line above the allowance is shortened to about the allowance: 1 is a safe bound.
        lane_tokens = tokens[lane_positions]
        lower_bound = np.where(lane_tokens > allowance[lane_index], 1, lane_tokens)
        positions[lane_index] = lane_positions.tolist()
        suffix_min[lane_index] = np.minimum.accumulate(lower_bound[::-1])[::-1].tolist()

    def line_cost(position: int, lane_index: int) -> int | None:
        if unusable[position]:
            return None
        if position in result.shortened or cost[position] <= allowance[lane_index]:
            return cost[position]
        shortened = shorten(position, allowance[lane_index])
        if shortened is None:
            unusable[position] = True
            return None
        result.shortened[position], cost[position] = shortened
        return cost[position]

    def room(lane_index: int, limit: int) -> int:
        header = header_tokens[lane_index] if used[lane_index] == 0 else 0
        return min(limit - used[lane_index], budget - total) - header

    def fill(lane_indexes: Sequence[int], limits: Sequence[int]) -> None:
        nonlocal total
        heads = [(positions[lane][0], lane, 0) for lane in lane_indexes if positions.get(lane)]
        heapq.heapify(heads)
        while heads:
            position, lane, index = heapq.heappop(heads)
            available = room(lane, limits[lane])
            if available < suffix_min[lane][index]:
                continue  # nothing left in this lane can fit: stop scanning it
            if not result.chosen[position]:
                needed = line_cost(position, lane)
                if needed is not None and needed <= available:
                    header = header_tokens[lane] if used[lane] == 0 else 0
                    used[lane] += needed + header
                    total += needed + header
                    result.chosen[position] = True
                    picked.add(position)
            if index + 1 < len(positions[lane]):
                heapq.heappush(heads, (positions[lane][index + 1], lane, index + 1))

    for lane_index, lane in enumerate(lanes):
        if lane.floor > 0:
            fill([lane_index], floor_tokens)
    fill(list(range(len(lanes))), cap_tokens)
    loose = [index for index, lane in enumerate(lanes) if not lane.strict_cap]
    if loose and total < budget:
        fill(loose, [budget] * len(lanes))

    limits = [
        cap if lane.strict_cap else budget for cap, lane in zip(cap_tokens, lanes, strict=True)
    ]
    # Swaps: trade a low-scored chosen line for a longer one of the same lane that uses the
    # slack, lowest scores first, so fewer tokens of the budget go unused.
    if total < budget:
        spare = list(
            islice(
                (
                    position
                    for position in range(count)
                    if not result.chosen[position]
                    and cost[position] <= allowance[lanes_of[position]]
                ),
                MAX_SWAP_POOL,
            )
        )
        victims = sorted(picked, reverse=True)[:MAX_SWAP_VICTIMS]
        for victim in victims:
            if budget - total <= 0:
                break
            if victim in result.shortened:
                continue
            lane = lanes_of[victim]
            slack = min(budget - total, limits[lane] - used[lane])
            best, best_gain = -1, 0
            for candidate in spare:
                if result.chosen[candidate] or lanes_of[candidate] != lane:
                    continue
                gain = cost[candidate] - cost[victim]
                if best_gain < gain <= slack:
                    best, best_gain = candidate, gain
            if best >= 0:
                result.chosen[victim], result.chosen[best] = False, True
                picked.discard(victim)
                picked.add(best)
                used[lane] += best_gain
                total += best_gain

    # Tail: what is left is smaller than any whole candidate. The best remaining candidate
    # that still has room in its lane is shortened into it, so the budget is not wasted.
    tries = 0
    lanes_with_room = {lane for lane in positions if room(lane, limits[lane]) >= MIN_TAIL_TOKENS}
    for position in range(count) if lanes_with_room else ():
        if budget - total < MIN_TAIL_TOKENS or tries >= MAX_TAIL_TRIES:
            break
        if result.chosen[position]:
            continue
        lane = lanes_of[position]
        available = room(lane, limits[lane])
        if available < MIN_TAIL_TOKENS:
            continue
        tries += 1
        shortened = shorten(position, available)
        if shortened is None:
            continue
        result.shortened[position], cost[position] = shortened
        header = header_tokens[lane] if used[lane] == 0 else 0
        used[lane] += cost[position] + header
        total += cost[position] + header
        result.chosen[position] = True
        picked.add(position)
    result.picked = sorted(picked)
    result.used = {lane: tokens_used for lane, tokens_used in enumerate(used) if tokens_used}
    return result
