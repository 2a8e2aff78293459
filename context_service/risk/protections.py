"""Freqtrade protections of the strategy (its ``protections`` property; backtests need
``--enable-protections``, which ``python -m context_service backtest`` passes)."""

from __future__ import annotations

from typing import Any

PROTECTIONS: tuple[dict[str, Any], ...] = (
    # a pause after each exit, so one pair does not re-enter on the next candle
    {"method": "CooldownPeriod", "stop_duration_candles": 2},
    # three stop-losses in a day: the market is against us, pause every pair
    {
        "method": "StoplossGuard",
        "lookback_period_candles": 24,
        "trade_limit": 3,
        "stop_duration_candles": 12,
        "only_per_pair": False,
    },
    # 15 % drawdown over three days: pause for a day
    {
        "method": "MaxDrawdown",
        "lookback_period_candles": 72,
        "trade_limit": 5,
        "stop_duration_candles": 24,
        "max_allowed_drawdown": 0.15,
    },
    # a pair that keeps losing is left alone for two days
    {
        "method": "LowProfitPairs",
        "lookback_period_candles": 96,
        "trade_limit": 2,
        "stop_duration_candles": 48,
        "required_profit": -0.03,
    },
)


def protections() -> list[dict[str, Any]]:
    """A fresh copy each time (Freqtrade may adjust what it is given)."""
    return [dict(p) for p in PROTECTIONS]
