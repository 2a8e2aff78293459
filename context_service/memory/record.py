"""A bot's trading record as of a moment, with recent trades weighing more (decay).

What a decision may learn from trade memory: only trades closed strictly *before* its ``as_of``
(a trade closing at the very moment of the decision is not known to it yet), each weighted by
``0.5 ** (age / half_life)``. A slice (a pair, an entry hour, an exit reason, a confidence
bucket) is judged only with at least ``min_trades`` trades in it; its win ratio comes with a
Wilson bound on the *effective* sample size (decayed weights count less than whole trades), so
"reliably poor" means poor beyond what a handful of unlucky trades explains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .models import ClosedTrade

STOP_EXITS = frozenset({"stop_loss", "stoploss", "trailing_stop_loss", "stoploss_on_exchange"})


@dataclass(frozen=True, slots=True)
class SliceRecord:
    """Decayed figures of one slice of closed trades."""

    name: str  # "pair BTC/USDT", "hour 14", "confidence 0.7-0.8", "stop exits of BTC/USDT"
    trades: int  # raw count
    weight: float  # sum of decay weights
    effective_n: float  # Kish effective sample size of the weights
    win_ratio: float  # weighted share of winners
    mean_return: float  # weighted mean net profit / stake
    wilson_low: float
    wilson_high: float

    def describe(self) -> str:
        return (
            f"{self.name}: {self.trades} trades, decayed win ratio {self.win_ratio:.2f} "
            f"(bound {self.wilson_low:.2f}..{self.wilson_high:.2f}, effective n "
            f"{self.effective_n:.1f}), mean {self.mean_return:+.2%}"
        )


def decay_weight(age_hours: float, half_life_hours: float) -> float:
    return 0.5 ** (max(age_hours, 0.0) / half_life_hours)


def wilson_bounds(ratio: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion ``ratio`` observed on ``n`` (may be fractional)."""
    if n <= 0:
        return 0.0, 1.0
    denominator = 1 + z * z / n
    centre = (ratio + z * z / (2 * n)) / denominator
    half = z * math.sqrt(ratio * (1 - ratio) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def trades_before(trades: Iterable[ClosedTrade], as_of: datetime) -> list[ClosedTrade]:
    """The trades a decision at ``as_of`` may know: closed strictly before it."""
    return [t for t in trades if t.close_time < as_of]


def slice_record(
    name: str,
    trades: Sequence[ClosedTrade],
    as_of: datetime,
    half_life_hours: float,
    z: float,
) -> SliceRecord | None:
    """Figures of ``trades`` (all closed before ``as_of``); None for an empty slice."""
    if not trades:
        return None
    weights, wins, returns = [], 0.0, 0.0
    for trade in trades:
        if trade.close_time >= as_of:  # the caller's filter, enforced once more
            raise ValueError(f"trade {trade.trade_id} closed at or after {as_of.isoformat()}")
        w = decay_weight((as_of - trade.close_time).total_seconds() / 3600, half_life_hours)
        weights.append(w)
        wins += w * (trade.net_profit > 0)
        returns += w * (trade.net_profit / trade.stake if trade.stake > 0 else 0.0)
    total = sum(weights)
    squares = sum(w * w for w in weights)
    effective = total * total / squares if squares > 0 else 0.0
    ratio = wins / total if total > 0 else 0.0
    low, high = wilson_bounds(ratio, effective, z)
    return SliceRecord(
        name=name,
        trades=len(trades),
        weight=total,
        effective_n=effective,
        win_ratio=ratio,
        mean_return=returns / total if total > 0 else 0.0,
        wilson_low=low,
        wilson_high=high,
    )


def select(trades: Iterable[ClosedTrade], keep: Callable[[ClosedTrade], bool]) -> list[ClosedTrade]:
    return [t for t in trades if keep(t)]


def is_stop_exit(trade: ClosedTrade) -> bool:
    return (trade.exit_reason or "").lower() in STOP_EXITS
