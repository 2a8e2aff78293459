"""Per-variant figures from a list of closed trades, all on a daily grid and in quote currency.

Every variant (a backtest or a buy-and-hold path) becomes a daily equity series that starts at
the wallet; profit is net of trading fees (Freqtrade's ``profit_abs`` already is) and of the LLM
cost, charged on the day of the verdict that spent it. Sharpe and Sortino use daily returns of
that equity, annualised with sqrt(365) (crypto trades every day).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365


def day_index(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Every UTC day from ``start``'s to ``end``'s, inclusive."""
    return pd.date_range(start.floor("D"), end.floor("D"), freq="D", tz="UTC")


def daily_pnl(
    trades: Sequence[Mapping[str, Any]],
    days: pd.DatetimeIndex,
    costs: Iterable[tuple[pd.Timestamp, float]] = (),
) -> pd.Series:
    """Realized profit per day (on each trade's close day) minus LLM cost per day."""
    pnl = pd.Series(0.0, index=days)
    for trade in trades:
        day = pd.Timestamp(trade["close_date"]).tz_convert("UTC").floor("D")
        if day in pnl.index:
            pnl[day] += float(trade["profit_abs"])
    for when, cost in costs:
        day = pd.Timestamp(when).tz_convert("UTC").floor("D")
        if day in pnl.index:
            pnl[day] -= float(cost)
    return pnl


def exposure(trades: Sequence[Mapping[str, Any]], start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Share of the period with at least one position open."""
    total = (end - start).total_seconds()
    if total <= 0 or not trades:
        return 0.0
    spans = sorted(
        (max(pd.Timestamp(t["open_date"]), start), min(pd.Timestamp(t["close_date"]), end))
        for t in trades
    )
    covered = 0.0
    current_start, current_end = spans[0]
    for s, e in spans[1:]:
        if s > current_end:
            covered += max(0.0, (current_end - current_start).total_seconds())
            current_start, current_end = s, e
        else:
            current_end = max(current_end, e)
    covered += max(0.0, (current_end - current_start).total_seconds())
    return min(1.0, covered / total)


def max_drawdown(equity: pd.Series) -> float:
    """Largest fall from a running peak, as a share of that peak (0.25 = 25 %)."""
    if equity.empty:
        return 0.0
    peaks = equity.cummax()
    falls = (peaks - equity) / peaks.where(peaks > 0)
    value = float(falls.max())
    return 0.0 if math.isnan(value) else value


def drawdown_series(equity: pd.Series) -> pd.Series:
    peaks = equity.cummax()
    return -(peaks - equity) / peaks.where(peaks > 0)


def sharpe_sortino(equity: pd.Series) -> tuple[float | None, float | None]:
    """Annualised daily Sharpe and Sortino (risk-free rate 0); None when undefined."""
    returns = equity.pct_change().dropna()
    returns = returns[np.isfinite(returns)]
    if len(returns) < 2:
        return None, None
    mean = float(returns.mean())
    std = float(returns.std(ddof=1))
    downside = returns.clip(upper=0.0)
    down = float(np.sqrt((downside**2).mean()))
    scale = math.sqrt(DAYS_PER_YEAR)
    sharpe = mean / std * scale if std > 0 else None
    sortino = mean / down * scale if down > 0 else None
    return sharpe, sortino


def profit_factor(trades: Sequence[Mapping[str, Any]]) -> float | None:
    wins = sum(float(t["profit_abs"]) for t in trades if float(t["profit_abs"]) > 0)
    losses = -sum(float(t["profit_abs"]) for t in trades if float(t["profit_abs"]) < 0)
    if losses == 0:
        return None if wins == 0 else math.inf
    return wins / losses


@dataclass
class VariantFigures:
    """The figures the report shows for one variant."""

    name: str
    kind: str  # ungated | gated | random | hold
    trades: int
    win_rate: float | None
    profit_abs: float  # net of fees and LLM cost
    profit_pct: float  # of the starting wallet
    fees_abs: float
    llm_cost_usd: float
    llm_tokens: int
    max_drawdown_pct: float
    sharpe: float | None
    sortino: float | None
    profit_factor: float | None
    exposure_pct: float

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None if math.isnan(value) else "inf"
        return out


def figures(
    name: str,
    kind: str,
    trades: Sequence[Mapping[str, Any]],
    equity: pd.Series,
    wallet: float,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    llm_cost: float = 0.0,
    llm_tokens: int = 0,
    fees: float | None = None,
) -> VariantFigures:
    profit = float(equity.iloc[-1] - wallet) if len(equity) else 0.0
    sharpe, sortino = sharpe_sortino(equity)
    wins = sum(1 for t in trades if float(t["profit_abs"]) > 0)
    if fees is None:
        fees = sum(_fees(t) for t in trades)
    return VariantFigures(
        name=name,
        kind=kind,
        trades=len(trades),
        win_rate=(wins / len(trades)) if trades else None,
        profit_abs=round(profit, 6),
        profit_pct=round(100 * profit / wallet, 4),
        fees_abs=round(fees, 6),
        llm_cost_usd=round(llm_cost, 6),
        llm_tokens=int(llm_tokens),
        max_drawdown_pct=round(100 * max_drawdown(equity), 4),
        sharpe=None if sharpe is None else round(sharpe, 4),
        sortino=None if sortino is None else round(sortino, 4),
        profit_factor=profit_factor(trades),
        exposure_pct=round(100 * exposure(trades, start, end), 3),
    )


def _fees(trade: Mapping[str, Any]) -> float:
    """Entry plus exit fee of one Freqtrade result trade, in quote currency."""
    stake = float(trade.get("stake_amount") or 0.0)
    entry = stake * float(trade.get("fee_open") or 0.0)
    amount = float(trade.get("amount") or 0.0)
    exit_value = amount * float(trade.get("close_rate") or 0.0)
    return entry + exit_value * float(trade.get("fee_close") or 0.0)
