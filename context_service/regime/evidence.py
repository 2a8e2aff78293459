"""One candle's regime as ``market-events`` evidence, saying exactly what it is based on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from context_service.models import Evidence, Provenance, Severity
from context_service.regime.detector import Regime, RegimeParams

# A regime reading stays valid for a few candles: a stale one must not steer a later decision.
VALID_CANDLES = 3
MARKET = "market"
SEVERITY = {
    Regime.crash: Severity.critical,
    Regime.high_volatility: Severity.high,
    Regime.normal: Severity.low,
    Regime.calm: Severity.low,
    Regime.unknown: Severity.low,
}


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """The regime of one pair (or of the market, read from its reference pair) at one candle."""

    scope: str  # "market" or "pair"
    pair: str
    timeframe: str
    candle_time: datetime  # open time of the closed candle
    regime: Regime
    trend: str
    rv: float
    rv_pct: float
    atr_ratio: float
    drawdown: float
    drawdown_speed: float

    @classmethod
    def from_row(
        cls, scope: str, pair: str, timeframe: str, candle_time: datetime, row: Mapping
    ) -> RegimeReading:
        def number(name: str) -> float:
            value = float(row[name])
            return value if math.isfinite(value) else math.nan

        return cls(
            scope=scope,
            pair=pair,
            timeframe=timeframe,
            candle_time=candle_time,
            regime=Regime(str(row["regime"])),
            trend=str(row["regime_trend"]),
            rv=number("regime_rv"),
            rv_pct=number("regime_rv_pct"),
            atr_ratio=number("regime_atr_ratio"),
            drawdown=number("regime_drawdown"),
            drawdown_speed=number("regime_drawdown_speed"),
        )

    def describe(self) -> str:
        subject = f"Market regime (via {self.pair})" if self.scope == MARKET else self.pair
        return (
            f"{subject} {self.timeframe}: {self.regime.value} | realized volatility "
            f"{self.rv:.0%} annualized, percentile {self.rv_pct:.2f} | ATR {self.atr_ratio:.2f}x "
            f"its median | trend {self.trend} | {self.drawdown:+.1%} from the recent peak "
            f"({self.drawdown_speed:+.2%}/candle)"
        )


def regime_evidence_id(reading: RegimeReading) -> str:
    """One object per scope and timeframe: each new reading replaces the last."""
    name = MARKET if reading.scope == MARKET else reading.pair
    return f"regime:{name}:{reading.timeframe}"


def regime_evidence(reading: RegimeReading, params: RegimeParams, close: timedelta) -> Evidence:
    """The evidence object of ``reading``; ``close`` is the timeframe (the reading becomes known
    when its candle closes)."""
    known_at = reading.candle_time + close
    return Evidence(
        id=regime_evidence_id(reading),
        summary=reading.describe(),
        detail=(
            f"Based on closed {reading.timeframe} candles of {reading.pair} up to "
            f"{known_at.isoformat()}: realized volatility over {params.rv_window} candles ranked "
            f"among the last {params.rank_window}, ATR({params.atr_period}) against its "
            f"{params.rank_window}-candle median, a {params.trend_window}-candle average and its "
            f"slope over {params.trend_slope_lag}, the fall from the highest close of the last "
            f"{params.drawdown_window}. A crash is a fall of {params.crash_drawdown:.0%} or more; "
            f"high volatility a percentile from {params.high_percentile:.2f} or ATR from "
            f"{params.atr_expansion:g}x."
        ),
        tags={
            "category": "event",
            "event": "regime",
            "scope": reading.scope,
            "pair": reading.pair,
            "timeframe": reading.timeframe,
            "regime": reading.regime.value,
        },
        provenance=Provenance(source="regime-detector"),
        observed_at=known_at,
        valid_until=known_at + VALID_CANDLES * close,
        severity=SEVERITY[reading.regime],
        confidence=0.9,
    )
