"""Dataframe helpers of the strategy: candle epochs, candidate rows, FreqUI verdict markers."""

from __future__ import annotations

from typing import Any

import numpy as np
import talib.abstract as ta
from pandas import DataFrame, Series, concat

from context_service.client.snapshot import SNAPSHOT_COLUMNS
from context_service.client.state import Row
from context_service.contract import Verdict

PLOT_CONFIG: dict[str, Any] = {
    "main_plot": {
        "ema_fast": {"color": "#f5a623"},
        "ema_slow": {"color": "#4a90e2"},
        "ema_trend": {"color": "#9013fe"},
        "bb_upper": {"color": "rgba(120,120,120,0.5)"},
        "bb_lower": {"color": "rgba(120,120,120,0.5)", "fill_to": "bb_upper"},
    },
    "subplots": {
        "RSI": {"rsi": {"color": "#d0021b"}},
        "MACD": {
            "macd": {"color": "#4a90e2"},
            "macdsignal": {"color": "#f5a623"},
            "macdhist": {"type": "bar", "color": "#7ed321"},
        },
        "ATR %": {"atr_pct": {"color": "#8b572a"}},
        "Regime": {
            "regime_code": {"color": "#e67e22"},
            "market_regime_code": {"color": "#c0392b"},
        },
        "Verdicts": {
            "verdict_buy": {"type": "scatter", "color": "#2ecc71", "scatterSymbol": "circle"},
            "verdict_sell": {"type": "scatter", "color": "#e74c3c", "scatterSymbol": "diamond"},
            "verdict_hold": {"type": "scatter", "color": "#95a5a6", "scatterSymbol": "square"},
        },
    },
}


EMA_NAMES = ("fast", "slow", "trend")


def with_emas(dataframe: DataFrame, params: Any) -> DataFrame:
    """``ema_<name>_<period>`` for every period of ``params.ema_<name>_period.range``: the
    whole range in hyperopt (indicators are computed once, each epoch picks its columns), else
    the value. Joined at once: one column at a time would fragment the frame (~180 EMAs)."""
    emas = {
        f"ema_{name}_{period}": ta.EMA(dataframe, timeperiod=period)
        for name in EMA_NAMES
        for period in getattr(params, f"ema_{name}_period").range
    }
    kept = dataframe.drop(columns=list(emas), errors="ignore")
    return concat([kept, DataFrame(emas, index=dataframe.index)], axis=1)


def select_emas(dataframe: DataFrame, params: Any) -> None:
    """``ema_fast`` / ``ema_slow`` / ``ema_trend``: the columns of the parameters' values."""
    for name in EMA_NAMES:
        period = getattr(params, f"ema_{name}_period").value
        dataframe[f"ema_{name}"] = dataframe[f"ema_{name}_{period}"]


def candle_epochs(dates: Series) -> np.ndarray:
    """Candle open times as integer epoch seconds, whatever the datetime64 unit."""
    return dates.dt.as_unit("s").astype("int64").to_numpy()


def index_rows(dataframe: DataFrame, mask: Series, keep: int | None) -> dict[int, Row]:
    """Candle epoch -> the snapshot columns of every row under ``mask`` (the last ``keep``)."""
    rows = dataframe.loc[mask, ["date", *SNAPSHOT_COLUMNS]]
    if keep is not None:
        rows = rows.tail(keep)
    epochs = candle_epochs(rows["date"])
    records = rows.drop(columns="date").to_dict("records")
    return dict(zip(epochs.tolist(), records, strict=True))


def add_verdict_markers(dataframe: DataFrame, marks: dict[int, Verdict]) -> None:
    """``verdict_buy|sell|hold`` columns for FreqUI: each verdict's confidence on its candle."""
    for action in ("buy", "sell", "hold"):
        dataframe[f"verdict_{action}"] = np.nan
    if not marks:
        return
    epochs = Series(candle_epochs(dataframe["date"]), index=dataframe.index)
    for action in ("buy", "sell", "hold"):
        by_epoch = {e: v.confidence for e, v in marks.items() if v.action == action}
        dataframe[f"verdict_{action}"] = epochs.map(by_epoch)
