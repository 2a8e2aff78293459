"""The budget guard: no entry may take the bot's open exposure past its budget.

Exposure is counted at cost, in the quote currency, and pessimistically:

* the cost of what the bot holds (filled entries minus what exits sold, at entry cost),
* the entry fees already paid,
* every still-open entry order at its full remaining cost plus the worst-case fee, because a
  partial fill can complete at any time.

Market value is ignored on purpose: a position that went up does not free budget, and one that
went down does not create room to buy more. The guard knows nothing of Freqtrade's wallet; it is
fed plain numbers, so it can be proven with property tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from context_service.risk.refusals import Refusal

# Rounding slack: Freqtrade rounds amounts to the market precision; a stake this close to the
# limit is treated as at the limit rather than refused.
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """What one bot may put at risk.

    ``budget``: the sub-account allocation in quote currency (e.g. 100 USDT).
    ``max_open_trades``: slots; the stake per trade is ``budget / max_open_trades``.
    ``per_pair_cap``: the most exposure one pair may take (defaults to one slot).
    ``fee_rate``: the worst-case fee ratio reserved on top of each entry (taker fee).
    """

    budget: float
    max_open_trades: int
    per_pair_cap: float | None = None
    fee_rate: float = 0.001

    def __post_init__(self) -> None:
        if not (math.isfinite(self.budget) and self.budget > 0):
            raise ValueError(f"budget must be a positive number, got {self.budget!r}")
        if self.max_open_trades < 1:
            raise ValueError(f"max_open_trades must be >= 1, got {self.max_open_trades!r}")
        if self.per_pair_cap is not None and not (
            math.isfinite(self.per_pair_cap) and self.per_pair_cap > 0
        ):
            raise ValueError(f"per_pair_cap must be a positive number, got {self.per_pair_cap!r}")
        if not (0 <= self.fee_rate < 0.1):
            raise ValueError(f"fee_rate must be in [0, 0.1), got {self.fee_rate!r}")

    @property
    def pair_cap(self) -> float:
        return min(self.budget, self.per_pair_cap or self.stake_per_trade_gross)

    @property
    def stake_per_trade_gross(self) -> float:
        """One slot of the budget, fees included."""
        return self.budget / self.max_open_trades

    @property
    def stake_per_trade(self) -> float:
        """The stake to ask Freqtrade for: one slot, leaving room for the entry fee."""
        return min(self.stake_per_trade_gross, self.pair_cap) / (1 + self.fee_rate)


@dataclass(frozen=True, slots=True)
class Position:
    """The exposure of one open trade, in quote currency."""

    pair: str
    filled_cost: float = 0.0  # cost basis of what is still held
    fees_paid: float = 0.0  # entry fees paid on what is held
    pending_entry_cost: float = 0.0  # remaining cost of open entry orders (before fees)

    def exposure(self, fee_rate: float) -> float:
        return (
            max(0.0, self.filled_cost)
            + max(0.0, self.fees_paid)
            + max(0.0, self.pending_entry_cost) * (1 + fee_rate)
        )


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    allowed: bool
    max_stake: float  # the largest stake (before fees) that would still fit
    reason: str  # a human detail line
    refusal: Refusal | None = None  # the category when not allowed


@dataclass(frozen=True, slots=True)
class BudgetGuard:
    """Answers "may this entry happen, and how large may it be?" from open positions only."""

    limits: BudgetLimits

    def exposure(self, positions: Iterable[Position], pair: str | None = None) -> float:
        fee = self.limits.fee_rate
        return sum(p.exposure(fee) for p in positions if pair is None or p.pair == pair)

    def max_entry_stake(self, positions: Iterable[Position], pair: str) -> float:
        """The largest new stake (before fees) for ``pair`` within budget and pair cap."""
        positions = list(positions)
        room_total = self.limits.budget - self.exposure(positions)
        room_pair = self.limits.pair_cap - self.exposure(positions, pair)
        room = min(room_total, room_pair)
        return max(0.0, room / (1 + self.limits.fee_rate))

    def check(self, positions: Iterable[Position], pair: str, stake: float) -> BudgetDecision:
        """Whether an entry of ``stake`` (quote, before fees) on ``pair`` fits."""
        if not (math.isfinite(stake) and stake > 0):
            return BudgetDecision(False, 0.0, f"invalid stake {stake!r}", Refusal.invalid_stake)
        positions = list(positions)
        max_stake = self.max_entry_stake(positions, pair)
        if stake <= max_stake + EPSILON:
            return BudgetDecision(True, max_stake, "within budget")
        total = self.exposure(positions)
        on_pair = self.exposure(positions, pair)
        cost = stake * (1 + self.limits.fee_rate)
        if on_pair + cost > self.limits.pair_cap + EPSILON:
            refusal = Refusal.pair_cap
            reason = (
                f"pair cap: {pair} exposure {on_pair:.4f} + {cost:.4f} > cap "
                f"{self.limits.pair_cap:.4f}"
            )
        else:
            refusal = Refusal.budget
            reason = (
                f"budget: open exposure {total:.4f} + {cost:.4f} > budget {self.limits.budget:.4f}"
            )
        return BudgetDecision(False, max_stake, reason, refusal)
