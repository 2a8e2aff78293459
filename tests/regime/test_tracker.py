"""The strategy's regime tracker: lookups by signal candle, responses, evidence pushes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from context_service.client.regime import RegimeTracker
from context_service.regime import Regime, RegimeParams
from context_service.risk.regime import RegimeConfig, RegimeResponse

PARAMS = RegimeParams(
    rv_window=3, rank_window=4, atr_period=3, trend_window=4, trend_slope_lag=2, drawdown_window=4
)
CONFIG = RegimeConfig(
    detection=PARAMS,
    responses={
        Regime.crash: RegimeResponse(scope="market", pause_entries=True, trailing_stop_scale=0.5),
        Regime.high_volatility: RegimeResponse(stake_scale=0.5),
    },
)


def _candles(closes: list[float]) -> pd.DataFrame:
    close = np.array(closes, dtype=float)
    return pd.DataFrame(
        {
            "date": pd.date_range("2022-06-13", periods=len(close), freq="1h", tz="UTC"),
            "open": close,
            "high": close * 1.002,
            "low": close * 0.998,
            "close": close,
            "volume": 1.0,
        }
    )


STEADY = [100 + (k % 3) * 0.1 for k in range(20)]
CRASH = [*STEADY[:16], 95.0, 88.0, 86.0, 87.0]  # the market falls 14% in three candles


def _tracker() -> RegimeTracker:
    tracker = RegimeTracker(CONFIG, "1h", timedelta(hours=1))
    tracker.index("SOL/USDT", _candles(STEADY), _candles(CRASH))
    return tracker


def test_the_market_crash_pauses_entries_on_other_pairs() -> None:
    tracker = _tracker()
    dates = _candles(CRASH)["date"]
    before, during = dates[10].to_pydatetime(), dates[18].to_pydatetime()
    assert tracker.reading("BTC/USDT", during, "market").regime is Regime.crash
    assert tracker.pause("SOL/USDT", before) is None
    paused = tracker.pause("SOL/USDT", during)
    assert paused is not None and paused.reasons[0].startswith("market crash")
    assert tracker.stop_scale("SOL/USDT", during, trade_id=7) == 0.5
    tracker.stop_scale("SOL/USDT", during, trade_id=7)  # the same trade counts once
    assert tracker.stats.as_dict()["entries_paused"] == 1
    assert tracker.stats.as_dict()["stops_tightened"] == 1


def test_the_dataframe_gets_numeric_regime_columns() -> None:
    tracker = RegimeTracker(CONFIG, "1h", timedelta(hours=1))
    columns = tracker.index("SOL/USDT", _candles(STEADY), _candles(CRASH))
    assert columns is not None and len(columns) == len(STEADY)
    assert columns["market_regime_code"].iloc[18] == 3.0  # crash
    assert columns["regime_code"].iloc[18] in (0.0, 1.0)  # the pair itself is quiet
    assert np.isnan(columns["regime_code"].iloc[0])  # unknown while the windows fill
    assert columns["market_drawdown"].iloc[18] < -0.1


def test_a_candle_not_indexed_has_no_regime_not_an_older_one() -> None:
    tracker = _tracker()
    later = _candles(CRASH)["date"].iloc[-1].to_pydatetime() + timedelta(hours=5)
    assert tracker.reading("BTC/USDT", later, "market") is None
    assert tracker.reading("ETH/USDT", later) is None
    assert tracker.action("SOL/USDT", later).active is False


def test_evidence_is_pushed_on_change_and_before_it_expires() -> None:
    tracker = _tracker()
    dates = [d.to_pydatetime() for d in _candles(CRASH)["date"]]
    first = tracker.evidence(dates[16], ["SOL/USDT"])
    ids = {o.id for o in first}
    assert ids == {"regime:market:1h", "regime:SOL/USDT:1h"}
    market = next(o for o in first if o.id == "regime:market:1h")
    assert market.tags["category"] == "event" and market.tags["scope"] == "market"
    assert market.observed_at == dates[16] + timedelta(hours=1)  # known when the candle closed
    assert "Based on closed 1h candles of BTC/USDT" in (market.detail or "")
    crash = tracker.evidence(dates[17], [])
    assert [o.tags["regime"] for o in crash] == ["crash"]
    assert "response: new entries paused" in crash[0].summary
    assert tracker.evidence(dates[18], []) == []  # unchanged and still valid
    assert len(tracker.evidence(dates[19], [])) == 1  # refreshed before it expires


def test_disabled_config_does_nothing() -> None:
    tracker = RegimeTracker(CONFIG.model_copy(update={"enabled": False}), "1h", timedelta(hours=1))
    tracker.index("SOL/USDT", _candles(STEADY), _candles(CRASH))
    assert tracker.informative_pairs() == []
    assert tracker.evidence(_candles(CRASH)["date"][18].to_pydatetime(), ["SOL/USDT"]) == []
