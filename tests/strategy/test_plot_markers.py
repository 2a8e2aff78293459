"""plot-dataframe after a backtest shows the run's verdicts: read back from its audit trail."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import redis
from freqtrade.enums import RunMode

from context_service.backtest.marks import backtest_marks
from context_service.keys import Keyspace
from context_service.service import ContextService
from context_service.settings import Settings
from context_service.verdicts.models import VerdictRequest
from strategy.conftest import load_strategy, strategy_config
from strategy.helpers import CANDLE, PAIR, snapshot


@pytest.fixture
def settings(redis_url: str, tmp_path) -> Settings:
    return Settings(_env_file=None, redis_url=redis_url, journal_dir=tmp_path / "journal")


def decide(service: ContextService, hours: int) -> None:
    candle = CANDLE + timedelta(hours=hours)
    service.decide(
        VerdictRequest(
            bot_id="backtest",
            pair=PAIR,
            candle_time=candle,
            candidate="entry",
            snapshot=snapshot(candle=candle),
            as_of=candle + timedelta(hours=1),
        )
    )


def test_markers_come_from_the_last_backtests_audit_trail(
    settings: Settings, keyspace: Keyspace, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = ContextService(
        settings, redis.Redis.from_url(redis_url), keyspace, evidence_store="memory"
    )
    for hours in (0, 3):
        decide(service, hours)
    # an unreadable entry costs its marker only
    service.components.memory.bot("backtest").audit.append(
        "verdict", {"verdict": {"pair": 1}}, at=CANDLE
    )

    config = strategy_config(bot_id="backtest", key_prefix=keyspace.prefix)
    config["runmode"] = RunMode.PLOT
    marks = backtest_marks(config, settings)
    assert sorted(marks[PAIR]) == [int(CANDLE.timestamp()), int(CANDLE.timestamp()) + 3 * 3600]

    strategy = load_strategy(config)
    # the strategy module as Freqtrade's resolver loaded it (not in sys.modules)
    monkeypatch.setitem(type(strategy).bot_start.__globals__, "get_settings", lambda: settings)
    strategy.bot_start()
    assert strategy.ctx is None  # plotting asks nothing and takes no lease
    dates = pd.date_range(CANDLE - timedelta(hours=10), periods=20, freq="1h", tz="UTC")
    prices = np.linspace(40_000, 41_000, 20)
    frame = pd.DataFrame(
        {"date": dates, "open": prices, "high": prices, "low": prices, "close": prices,
         "volume": 1.0}
    )  # fmt: skip
    out = strategy.populate_indicators(frame, {"pair": PAIR})
    marked = out.loc[out[[f"verdict_{a}" for a in ("buy", "sell", "hold")]].notna().any(axis=1)]
    assert list(marked["date"]) == [CANDLE, CANDLE + timedelta(hours=3)]
    values = out[["verdict_buy", "verdict_sell", "verdict_hold"]].stack().dropna()
    assert len(values) == 2 and values.between(0, 1).all()  # the verdicts' confidences


def test_no_backtest_yet_means_no_markers(settings: Settings, keyspace: Keyspace) -> None:
    config = strategy_config(bot_id="backtest", key_prefix=keyspace.prefix)
    assert backtest_marks(config, settings) == {}
