"""The compact TA snapshot of one closed candle, built from the strategy's indicator columns."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from context_service.contract import TASnapshot

# Indicator column -> TASnapshot field. The strategy's populate_indicators writes these columns.
SNAPSHOT_COLUMNS: dict[str, str] = {
    "close": "close",
    "rsi": "rsi",
    "macd": "macd",
    "macdsignal": "macd_signal",
    "macdhist": "macd_hist",
    "ema_fast": "ema_fast",
    "ema_slow": "ema_slow",
    "ema_trend": "ema_trend",
    "atr": "atr",
    "bb_lower": "bb_lower",
    "bb_middle": "bb_middle",
    "bb_upper": "bb_upper",
    "volume": "volume",
    "volume_mean": "volume_mean",
}


class IncompleteCandle(ValueError):
    """An indicator is missing or not a finite number (e.g. still warming up)."""


def ta_snapshot(
    pair: str, timeframe: str, candle_time: datetime, row: Mapping[str, Any]
) -> TASnapshot:
    """Build the snapshot; raises :class:`IncompleteCandle` or a pydantic ValidationError."""
    values: dict[str, Any] = {}
    for column, name in SNAPSHOT_COLUMNS.items():
        value = row.get(column)
        if value is None or not math.isfinite(float(value)):
            if name == "volume_mean":
                continue
            raise IncompleteCandle(f"{pair} {candle_time}: {column} is {value!r}")
        values[name] = float(value)
    return TASnapshot(pair=pair, timeframe=timeframe, candle_time=candle_time, **values)
