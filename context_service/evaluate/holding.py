"""Buy-and-hold controls: each pair, an equal-weight basket of the pairs, and BTC alone.

Bought at the open of the first candle of the period (or of the pair's first candle, for a
pair listed later: cash until then), held to the last close, one entry and one exit fee at the
backtest's fee rate. Same wallet as the strategy's variants.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


def hold_equity(
    candles: pd.DataFrame, allocation: float, fee: float, days: pd.DatetimeIndex
) -> pd.Series:
    """Daily equity (at each day's last close) of ``allocation`` put into one pair."""
    if candles.empty:
        return pd.Series(allocation, index=days)
    entry = float(candles["open"].iloc[0])
    units = allocation * (1 - fee) / entry
    closes = candles.set_index("date")["close"].resample("D").last()
    value = (closes * units).reindex(days).ffill()
    first_day = pd.Timestamp(candles["date"].iloc[0]).floor("D")
    value[days < first_day] = allocation
    value = value.fillna(allocation)
    value.iloc[-1] = value.iloc[-1] * (1 - fee)  # the exit fee, paid on the last day
    return value


def hold_trade(candles: pd.DataFrame, allocation: float, fee: float) -> dict:
    """The holding as one trade, so the trade-based figures read the same as for a backtest."""
    entry = float(candles["open"].iloc[0])
    exit_ = float(candles["close"].iloc[-1])
    units = allocation * (1 - fee) / entry
    profit = units * exit_ * (1 - fee) - allocation
    return {
        "open_date": candles["date"].iloc[0],
        "close_date": candles["date"].iloc[-1],
        "profit_abs": profit,
        "stake_amount": allocation,
        "fee_open": fee,
        "fee_close": fee,
        "amount": units,
        "close_rate": exit_,
    }


def basket_equity(
    candles_by_pair: Mapping[str, pd.DataFrame],
    wallet: float,
    fee: float,
    days: pd.DatetimeIndex,
) -> pd.Series:
    """Equal weights: the wallet split evenly over the pairs at the start, never rebalanced."""
    share = wallet / len(candles_by_pair)
    parts = [hold_equity(frame, share, fee, days) for frame in candles_by_pair.values()]
    return sum(parts[1:], parts[0])
