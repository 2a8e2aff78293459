"""The point-in-time regime detector: four features and one label per closed candle.

Every value on a row depends only on that candle and the ones before it (backward rolling
windows, no centring, no filling backwards), so a backtest sees exactly what a live bot saw
when the candle closed, and Freqtrade's lookahead-analysis finds nothing. The whole frame is
computed at once (vectorised), which is what ``populate_indicators`` needs in backtests.

Features (``p`` are :class:`RegimeParams`):

* ``regime_rv``: realized volatility, the standard deviation of log returns over
  ``p.rv_window`` candles, annualized with ``p.candles_per_year``.
* ``regime_rv_pct``: where the current realized volatility sits among the last
  ``p.rank_window`` values, the current one included: its average rank over the window size
  (0..1; ties share their rank, so a flat market sits in the middle, not at the top).
* ``regime_atr_ratio``: ATR share of price over its median of the last ``p.rank_window``
  candles: above ``p.atr_expansion`` ranges are expanding, below its inverse contracting.
* ``regime_trend``: ``up`` when the close is above the ``p.trend_window`` simple average and
  that average rose over ``p.trend_slope_lag`` candles, ``down`` for the mirror image, else
  ``sideways``. Simple averages are exact over a finite window (no seed, nothing recursive).
* ``regime_drawdown``: fall of the close from the highest close of the last
  ``p.drawdown_window`` candles (0 or negative), and ``regime_drawdown_speed``: that fall per
  candle since the peak (a crash is a deep fall that happened fast).

Label (``regime``), first match wins: ``crash`` when the drawdown is at least
``p.crash_drawdown``; ``high_volatility`` when the volatility percentile is at least
``p.high_percentile`` or the ATR ratio at least ``p.atr_expansion``; ``calm`` when the
percentile is at most ``p.calm_percentile``; else ``normal``. ``unknown`` while a window is
still filling (the strategy's startup candles cover every window).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd
import talib
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field, model_validator


class Regime(StrEnum):
    unknown = "unknown"
    calm = "calm"
    normal = "normal"
    high_volatility = "high_volatility"
    crash = "crash"


class Trend(StrEnum):
    unknown = "unknown"
    up = "up"
    sideways = "sideways"
    down = "down"


REGIME_COLUMNS = (
    "regime_rv",
    "regime_rv_pct",
    "regime_atr_pct",
    "regime_atr_ratio",
    "regime_trend",
    "regime_drawdown",
    "regime_drawdown_speed",
    "regime",
)


class RegimeParams(BaseModel):
    """Windows (in candles) and thresholds of the detector; defaults suit 1h candles and fit in
    the strategy's 400 startup candles (the longest need is ``rank_window + rv_window``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rv_window: int = Field(default=24, ge=2, le=10_000)
    rank_window: int = Field(default=336, ge=2, le=10_000)
    atr_period: int = Field(default=14, ge=2, le=1_000)
    trend_window: int = Field(default=168, ge=2, le=10_000)
    trend_slope_lag: int = Field(default=24, ge=1, le=10_000)
    drawdown_window: int = Field(default=24, ge=2, le=10_000)
    candles_per_year: float = Field(default=24 * 365, gt=0, le=1e7)
    high_percentile: float = Field(default=0.9, gt=0, le=1)
    calm_percentile: float = Field(default=0.2, ge=0, lt=1)
    atr_expansion: float = Field(default=1.6, gt=1, le=100)
    crash_drawdown: float = Field(
        default=0.1, gt=0, lt=1, description="Fall from the window's peak close that is a crash."
    )

    @model_validator(mode="after")
    def _ordered(self) -> RegimeParams:
        if self.calm_percentile >= self.high_percentile:
            raise ValueError("calm_percentile must be below high_percentile")
        return self

    @property
    def warmup(self) -> int:
        """Candles before the first row with every feature known."""
        return max(
            self.rv_window + self.rank_window - 1,
            self.atr_period + self.rank_window - 1,
            self.trend_window + self.trend_slope_lag - 1,
            self.drawdown_window - 1,
        )


def _candles_since_peak(close: np.ndarray, window: int) -> np.ndarray:
    """For each row, how many candles ago the window's highest close was (NaN while filling)."""
    out = np.full(close.shape, np.nan)
    if len(close) >= window:
        windows = sliding_window_view(close, window)
        # argmax of the reversed window: the most recent peak when the high repeats
        out[window - 1 :] = np.argmax(windows[:, ::-1], axis=1)
    return out


def detect_regimes(candles: pd.DataFrame, params: RegimeParams | None = None) -> pd.DataFrame:
    """The regime columns (:data:`REGIME_COLUMNS`) of ``candles`` (``high``/``low``/``close``),
    on the same index. Rows are closed candles; nothing on a row uses a later row."""
    p = params or RegimeParams()
    close = candles["close"].astype("float64")
    high = candles["high"].astype("float64")
    low = candles["low"].astype("float64")
    out = pd.DataFrame(index=candles.index)

    log_returns = np.log(close / close.shift(1))
    rv = log_returns.rolling(p.rv_window, min_periods=p.rv_window).std() * np.sqrt(
        p.candles_per_year
    )
    out["regime_rv"] = rv
    out["regime_rv_pct"] = rv.rolling(p.rank_window, min_periods=p.rank_window).rank(
        pct=True, method="average"
    )

    atr = pd.Series(
        talib.ATR(high.to_numpy(), low.to_numpy(), close.to_numpy(), timeperiod=p.atr_period),
        index=candles.index,
    )
    atr_pct = atr / close
    out["regime_atr_pct"] = atr_pct
    baseline = atr_pct.rolling(p.rank_window, min_periods=p.rank_window).median()
    out["regime_atr_ratio"] = atr_pct / baseline

    average = close.rolling(p.trend_window, min_periods=p.trend_window).mean()
    rising = average > average.shift(p.trend_slope_lag)
    falling = average < average.shift(p.trend_slope_lag)
    known = average.shift(p.trend_slope_lag).notna()
    trend = np.where(
        ~known,
        Trend.unknown.value,
        np.where(
            (close > average) & rising,
            Trend.up.value,
            np.where((close < average) & falling, Trend.down.value, Trend.sideways.value),
        ),
    )
    out["regime_trend"] = trend

    peak = close.rolling(p.drawdown_window, min_periods=p.drawdown_window).max()
    drawdown = close / peak - 1.0
    out["regime_drawdown"] = drawdown
    since = _candles_since_peak(close.to_numpy(), p.drawdown_window)
    out["regime_drawdown_speed"] = drawdown / np.maximum(since, 1.0)

    out["regime"] = label_regimes(out, p)
    return out


def label_regimes(features: pd.DataFrame, p: RegimeParams) -> np.ndarray:
    """The regime label of each row of :func:`detect_regimes`' features."""
    pct = features["regime_rv_pct"]
    ratio = features["regime_atr_ratio"]
    drawdown = features["regime_drawdown"]
    known = pct.notna() & ratio.notna() & drawdown.notna()
    return np.select(
        [
            ~known,
            drawdown <= -p.crash_drawdown,
            (pct >= p.high_percentile) | (ratio >= p.atr_expansion),
            pct <= p.calm_percentile,
        ],
        [Regime.unknown.value, Regime.crash.value, Regime.high_volatility.value, Regime.calm.value],
        default=Regime.normal.value,
    )
