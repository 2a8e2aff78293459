"""The strategy's view of volatility regimes: detected per pair and for the market, answered by
the risk layer, reported as evidence and counted.

``populate_indicators`` hands each pair's candles to :meth:`RegimeTracker.index` (vectorised;
the market's regime comes from its reference pair, BTC/USDT, through Freqtrade's data
provider). The callbacks then look up the regime of the *signal candle* (the last closed one),
so a decision never sees a later candle: the same lookup serves backtests and live runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pandas import DataFrame

from context_service.models import KnowledgeObject
from context_service.regime.detector import REGIME_COLUMNS, Regime, detect_regimes
from context_service.regime.evidence import MARKET, RegimeReading, regime_evidence
from context_service.risk.regime import (
    NO_ACTION,
    RegimeAction,
    RegimeConfig,
    RegimeResponseStats,
    respond,
)

logger = logging.getLogger(__name__)

# Live runs keep this many candles of regime history per pair (backtests keep all).
LIVE_HISTORY = 200
# Re-push an unchanged reading after this many candles (its evidence is valid for three).
REFRESH_CANDLES = 2


NUMERIC_COLUMNS = ("regime_rv_pct", "regime_atr_ratio", "regime_drawdown", "regime_drawdown_speed")
# The label as a number for the dataframe: higher is more dangerous (NaN while unknown).
REGIME_CODES = {
    Regime.unknown.value: np.nan,
    Regime.calm.value: 0.0,
    Regime.normal.value: 1.0,
    Regime.high_volatility.value: 2.0,
    Regime.crash.value: 3.0,
}


def _epochs(candles: DataFrame) -> np.ndarray:
    return candles["date"].dt.as_unit("s").astype("int64").to_numpy()


@dataclass
class _Series:
    epochs: np.ndarray  # candle open times, epoch seconds, ascending
    rows: DataFrame  # the regime columns, same order


@dataclass
class RegimeTracker:
    """Regimes of the pairs and the market, the responses to them, and their counts."""

    config: RegimeConfig
    timeframe: str
    candle: timedelta
    keep_all: bool = True
    log_level: int = logging.INFO  # backtests log each response at DEBUG (thousands of them)
    stats: RegimeResponseStats = field(default_factory=RegimeResponseStats)
    # candle-derived: the strategy hands every run's tracker the same dict (see its _regimes)
    series: dict[str, _Series] = field(default_factory=dict)
    _pushed: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (regime, epoch)
    _stops: set[Any] = field(default_factory=set)  # trade ids whose stop was tightened

    @property
    def market_pair(self) -> str:
        return self.config.market_pair

    def informative_pairs(self) -> list[tuple[str, str]]:
        return [(self.market_pair, self.timeframe)] if self.config.enabled else []

    # --- detection ----------------------------------------------------------------------
    def index(self, pair: str, candles: DataFrame, market: DataFrame | None) -> DataFrame | None:
        """Detect the regimes of ``pair`` (and, when given, of the market) on closed candles;
        returns the numeric regime columns for ``candles``' rows (the strategy adds them to its
        dataframe, where lookahead-analysis checks them and FreqUI can plot them)."""
        if not self.config.enabled:
            return None
        own = detect_regimes(candles, self.config.detection)
        self._keep(pair, _epochs(candles), own)
        if pair != self.market_pair and market is not None and len(market):
            epochs = _epochs(market)
            known = self.series.get(self.market_pair)
            if known is None or not len(known.epochs) or known.epochs[-1] < epochs[-1]:
                self._keep(self.market_pair, epochs, detect_regimes(market, self.config.detection))
        columns = DataFrame(index=candles.index)
        for name in NUMERIC_COLUMNS:
            columns[name] = own[name].to_numpy()
        columns["regime_code"] = own["regime"].map(REGIME_CODES).to_numpy()
        series = self.series.get(self.market_pair)
        if series is not None and len(series.epochs):
            epochs = _epochs(candles)
            at = np.minimum(np.searchsorted(series.epochs, epochs), len(series.epochs) - 1)
            found = series.epochs[at] == epochs
            codes = series.rows["regime"].map(REGIME_CODES).to_numpy()
            drawdown = series.rows["regime_drawdown"].to_numpy()
            columns["market_regime_code"] = np.where(found, codes[at], np.nan)
            columns["market_drawdown"] = np.where(found, drawdown[at], np.nan)
        return columns

    def _keep(self, key: str, epochs: np.ndarray, regimes: DataFrame) -> None:
        """Keep ``regimes`` for lookups by candle (live runs: the recent candles only)."""
        rows = regimes[list(REGIME_COLUMNS)].reset_index(drop=True)
        if not self.keep_all:
            rows, epochs = rows.tail(LIVE_HISTORY).reset_index(drop=True), epochs[-LIVE_HISTORY:]
        self.series[key] = _Series(epochs, rows)

    def reading(self, pair: str, signal: datetime, scope: str = "pair") -> RegimeReading | None:
        """The regime of ``pair``'s candle that opened at ``signal`` (None when not known)."""
        series = self.series.get(pair)
        if series is None:
            return None
        epoch = int(signal.timestamp())
        index = int(np.searchsorted(series.epochs, epoch, side="right")) - 1
        if index < 0 or series.epochs[index] != epoch:
            return None  # that candle is missing: no regime rather than an older one
        row = series.rows.iloc[index]
        if row["regime"] == Regime.unknown:
            return None
        return RegimeReading.from_row(scope, pair, self.timeframe, signal, row)

    def action(self, pair: str, signal: datetime) -> RegimeAction:
        """The risk layer's response at ``signal``: the pair's and the market's regimes."""
        if not self.config.enabled:
            return NO_ACTION
        own = self.reading(pair, signal)
        market = self.reading(self.market_pair, signal, MARKET)
        return respond(
            self.config,
            own.regime if own else None,
            market.regime if market else None,
        )

    # --- responses, counted -------------------------------------------------------------------
    def pause(self, pair: str, signal: datetime) -> RegimeAction | None:
        """The action when it pauses entries on ``pair`` (counted and logged), else None."""
        action = self.action(pair, signal)
        if not action.pause_entries:
            return None
        self.stats.record("pause", action)
        logger.log(
            self.log_level, "entry on %s paused by regime: %s", pair, "; ".join(action.reasons)
        )
        return action

    def scale_stake(self, pair: str, signal: datetime, stake: float) -> float:
        """The stake after the regime response (counted when the entry is confirmed)."""
        return stake * self.action(pair, signal).stake_scale

    def entry_confirmed(self, pair: str, signal: datetime) -> None:
        """Count (and log) an entry that went ahead with a scaled-down stake."""
        action = self.action(pair, signal)
        if action.stake_scale < 1:
            self.stats.record("stake", action)
            logger.log(
                self.log_level,
                "stake on %s scaled x%g by regime: %s",
                pair,
                action.stake_scale,
                "; ".join(action.reasons),
            )

    def stop_scale(self, pair: str, signal: datetime, trade_id: Any) -> float:
        """The trailing-stop multiplier; each trade is counted once as tightened."""
        action = self.action(pair, signal)
        if action.trailing_stop_scale < 1 and trade_id not in self._stops:
            self._stops.add(trade_id)
            self.stats.record("stop", action)
            logger.log(
                self.log_level,
                "trailing stop of trade %s on %s tightened x%g by regime",
                trade_id,
                pair,
                action.trailing_stop_scale,
            )
        return action.trailing_stop_scale

    # --- evidence -------------------------------------------------------------------------
    def evidence(self, signal: datetime, pairs: list[str]) -> list[KnowledgeObject]:
        """``market-events`` objects for the market and ``pairs`` at ``signal``: only readings
        that changed, or that would expire before the next candle."""
        if not self.config.enabled:
            return []
        epoch = int(signal.timestamp())
        readings = [self.reading(self.market_pair, signal, MARKET)]
        readings += [self.reading(p, signal) for p in pairs if p != self.market_pair]
        due: list[KnowledgeObject] = []
        step = int(self.candle.total_seconds())
        for reading in readings:
            if reading is None:
                continue
            obj = regime_evidence(reading, self.config.detection, self.candle)
            last = self._pushed.get(obj.id)
            if last and last[0] == reading.regime and epoch - last[1] < REFRESH_CANDLES * step:
                continue
            self._pushed[obj.id] = (reading.regime.value, epoch)
            if reading.scope == MARKET or reading.pair in pairs:
                response = self._response_text(reading)
                if response:
                    obj = obj.model_copy(
                        update={"summary": f"{obj.summary} | response: {response}"}
                    )
            due.append(obj)
        return due

    def _response_text(self, reading: RegimeReading) -> str:
        response = self.config.responses.get(reading.regime)
        if response is None or not response.applies(reading.scope):
            return ""
        parts = []
        if response.pause_entries:
            parts.append("new entries paused")
        if response.stake_scale < 1:
            parts.append(f"stakes x{response.stake_scale:g}")
        if response.trailing_stop_scale < 1:
            parts.append(f"trailing stops x{response.trailing_stop_scale:g}")
        return ", ".join(parts)


def regime_tracker(
    config: dict[str, Any], knowledge_file: Path | None, enabled: bool, in_process: bool
) -> RegimeTracker | None:
    """Regime detection and responses from the knowledge file's ``regime`` section (None
    without one, when it is disabled, or when ``"regime_responses": false``); a bad section
    raises :class:`~context_service.knowledge.KnowledgeFileError`."""
    if knowledge_file is None or not enabled:
        return None
    from context_service.knowledge import load_regime_config
    from context_service.verdicts.market_data import timeframe_delta

    regime = load_regime_config(knowledge_file)
    if regime is None or not regime.enabled:
        return None
    timeframe = str(config.get("timeframe") or "1h")
    return RegimeTracker(
        regime,
        timeframe,
        timeframe_delta(timeframe),
        keep_all=in_process,
        log_level=logging.DEBUG if in_process else logging.INFO,
    )
