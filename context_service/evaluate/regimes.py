"""Market regimes, computed point-in-time from BTC: trend (up/down) and realized volatility.

A day's regime uses only closes of earlier days, so it is known at the day's start:

* trend: up when yesterday's BTC close is above the mean of the 50 daily closes up to it;
* volatility: high when the 30-day realized volatility (of daily log returns, up to yesterday)
  is above its own median over the preceding year (the first year uses the median so far).

Each variant's daily profit is then summed per regime, so "the gate helps in downtrends" is a
claim the table can support or refute.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

TREND_DAYS = 50
VOL_DAYS = 30
VOL_BASELINE_DAYS = 365


def btc_regimes(btc: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
    """``trend`` (up/down) and ``volatility`` (high/low) per day of ``days``.

    ``btc`` should start well before ``days`` (the whole candle file): the regimes need history.
    Days without enough history are ``n/a``.
    """
    if btc.empty:  # no BTC candles in the data folder: regimes unknown
        return pd.DataFrame({"trend": "n/a", "volatility": "n/a"}, index=days)
    closes = btc.set_index("date")["close"].resample("D").last().dropna()
    sma = closes.rolling(TREND_DAYS, min_periods=TREND_DAYS).mean()
    trend_known = (closes > sma).where(sma.notna())
    log_returns = np.log(closes).diff()
    vol = log_returns.rolling(VOL_DAYS, min_periods=VOL_DAYS).std() * np.sqrt(365)
    baseline = vol.rolling(VOL_BASELINE_DAYS, min_periods=VOL_DAYS).median()
    vol_known = (vol > baseline).where(vol.notna() & baseline.notna())
    # Known at the start of the next day: shift by one day.
    trend = trend_known.shift(1).reindex(days)
    high = vol_known.shift(1).reindex(days)
    return pd.DataFrame(
        {
            "trend": trend.map({True: "up", False: "down"}).fillna("n/a"),
            "volatility": high.map({True: "high", False: "low"}).fillna("n/a"),
        },
        index=days,
    )


def regime_table(
    regimes: pd.DataFrame, daily_pts: dict[str, pd.Series], gated: str, others: list[str]
) -> list[dict[str, Any]]:
    """Per regime value: days, each variant's points, and gated minus each of ``others``."""
    from context_service.evaluate.compare import block_bootstrap

    rows = []
    for column in ("trend", "volatility"):
        for value in sorted(regimes[column].unique()):
            mask = (regimes[column] == value).to_numpy()
            row: dict[str, Any] = {"regime": column, "value": value, "days": int(mask.sum())}
            for name, series in daily_pts.items():
                row[name] = round(float(series.to_numpy()[mask].sum()), 4)
            for other in others:
                diff = (daily_pts[gated] - daily_pts[other]).to_numpy()[mask]
                row[f"gated_minus_{other}"] = block_bootstrap(diff).as_dict()
            rows.append(row)
    return rows
