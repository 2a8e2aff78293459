"""Trading statistics computed from closed trades (never from evidence, which expires).

Win: net profit (after fees) above zero; loss: below zero; exactly zero is breakeven. Drawdown
is measured on cumulative net PnL in close-time order, starting from zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import pairwise

from .models import ClosedTrade, GroupStats, TradeStats

CONFIDENCE_EDGES = (0.6, 0.7, 0.8, 0.9)


def confidence_bucket(confidence: float | None) -> str:
    """Bucket label of an entry's verdict confidence: "<0.6", "0.6-0.7", ..., ">=0.9"."""
    if confidence is None:
        return "unknown"
    if confidence < CONFIDENCE_EDGES[0]:
        return f"<{CONFIDENCE_EDGES[0]}"
    for low, high in pairwise(CONFIDENCE_EDGES):
        if confidence < high:
            return f"{low}-{high}"
    return f">={CONFIDENCE_EDGES[-1]}"


def _profit_factor(won: float, lost: float) -> float | None:
    return None if lost == 0 else won / -lost


def group_stats(profits: Sequence[float]) -> GroupStats:
    wins = [p for p in profits if p > 0]
    losses = [p for p in profits if p < 0]
    count = len(profits)
    net = sum(profits)
    return GroupStats(
        trades=count,
        wins=len(wins),
        losses=len(losses),
        win_ratio=len(wins) / count if count else None,
        net_pnl=net,
        avg_net=net / count if count else None,
        profit_factor=_profit_factor(sum(wins), sum(losses)),
    )


def _breakdown(
    trades: Iterable[ClosedTrade], label: Callable[[ClosedTrade], str]
) -> dict[str, GroupStats]:
    groups: dict[str, list[float]] = defaultdict(list)
    for trade in trades:
        groups[label(trade)].append(trade.net_profit)
    return {name: group_stats(groups[name]) for name in sorted(groups)}


def max_drawdown(profits: Iterable[float]) -> float:
    """Largest fall from a peak of the running sum (the sum starts at a peak of zero)."""
    peak = total = worst = 0.0
    for profit in profits:
        total += profit
        peak = max(peak, total)
        worst = max(worst, peak - total)
    return worst


def compute_stats(
    bot_id: str,
    trades: Sequence[ClosedTrade],
    llm_cost: float = 0.0,
    as_of: datetime | None = None,
) -> TradeStats:
    """Statistics of ``trades`` (already filtered to ``as_of`` and sorted by close time)."""
    profits = [t.net_profit for t in trades]
    overall = group_stats(profits)
    wins = [p for p in profits if p > 0]
    losses = [p for p in profits if p < 0]
    fees = sum(t.fees for t in trades)
    net = overall.net_pnl
    return TradeStats(
        bot_id=bot_id,
        as_of=as_of,
        trades=overall.trades,
        wins=overall.wins,
        losses=overall.losses,
        breakeven=overall.trades - overall.wins - overall.losses,
        win_ratio=overall.win_ratio,
        gross_pnl=net + fees,
        fees=fees,
        net_pnl=net,
        llm_cost=llm_cost,
        net_after_llm=net - llm_cost,
        avg_win=sum(wins) / len(wins) if wins else None,
        avg_loss=sum(losses) / len(losses) if losses else None,
        profit_factor=overall.profit_factor,
        expectancy=overall.avg_net,
        max_drawdown=max_drawdown(profits),
        first_close=trades[0].close_time if trades else None,
        last_close=trades[-1].close_time if trades else None,
        by_pair=_breakdown(trades, lambda t: t.pair),
        by_hour=_breakdown(trades, lambda t: f"{t.entry_hour:02d}"),
        by_exit_reason=_breakdown(trades, lambda t: t.exit_reason or "unknown"),
        by_confidence=_breakdown(trades, lambda t: confidence_bucket(t.confidence)),
    )
