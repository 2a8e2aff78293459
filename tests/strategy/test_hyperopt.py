"""Hyperopt: the strategy crosses to worker processes, and epochs never call the paid LLM.

Freqtrade pickles the strategy with cloudpickle for every parallel epoch. The context keeps
its options and ledgers but not its engine connection (Redis clients hold locks); the worker
builds its own in-process engine. The real run is ``freqtrade hyperopt`` with two jobs.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import cloudpickle
import pytest
import redis
from freqtrade.enums import RunMode

from context_service.client import backtest_engine, factory
from context_service.client.factory import build_strategy_context
from context_service.keys import Keyspace
from context_service.settings import REPO_ROOT, USER_DATA, Settings
from strategy.conftest import load_strategy, strategy_config
from strategy.helpers import CANDLE, snapshot


def backtest_config(keyspace: Keyspace, **context) -> dict:
    config = strategy_config(bot_id="backtest", key_prefix=keyspace.prefix, **context)
    config["runmode"] = RunMode.HYPEROPT
    return config


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(_env_file=None, redis_url=redis_url, journal_dir=tmp_path / "journal")


def test_context_pickles_without_its_connection_and_reconnects_in_the_worker(
    settings: Settings, keyspace: Keyspace
) -> None:
    ctx = build_strategy_context(
        backtest_config(keyspace, min_confidence=0.7), in_process=True, settings=settings
    )
    ctx.daily.record_entry(CANDLE)
    worker = pickle.loads(cloudpickle.dumps(ctx))

    assert worker.client is not None and worker.client is not ctx.client
    assert worker.gate is not None and worker.gate.min_confidence == 0.7
    assert worker.daily.entries[CANDLE.date()] == 1  # ledgers travel with it
    verdict = worker.gate.fetch(snapshot(), as_of=CANDLE + timedelta(hours=1))
    assert verdict is not None and verdict.source == "rules"
    assert worker.client.record_memory is False  # workers never wipe each other's memory


def test_ungated_context_pickles_without_any_engine(settings: Settings, keyspace: Keyspace) -> None:
    ctx = build_strategy_context(
        backtest_config(keyspace, gating=False), in_process=True, settings=settings
    )
    worker = pickle.loads(cloudpickle.dumps(ctx))
    assert worker.client is None and worker.gate is None


def test_a_live_context_is_not_sent_anywhere(sidecar_settings) -> None:
    ctx = build_strategy_context(strategy_config(), in_process=False, settings=sidecar_settings)
    with pytest.raises(TypeError, match="not picklable"):
        cloudpickle.dumps(ctx)


def test_the_whole_strategy_pickles_after_bot_start(
    settings: Settings, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch, no_db
) -> None:
    monkeypatch.setattr(factory, "get_settings", lambda: settings)
    strategy = load_strategy(backtest_config(keyspace))
    strategy.bot_start()
    copy = pickle.loads(cloudpickle.dumps(strategy))
    assert copy.ctx is not None and copy.ctx.gate is not None
    assert copy.ctx.client is not strategy.ctx.client


def test_hyperopt_replaces_the_llm_with_the_rules(redis_url: str, keyspace: Keyspace) -> None:
    settings = Settings(
        _env_file=None,
        redis_url=redis_url,
        verdict_provider="llm",
        llm_enabled=True,
        llm_api_key="sk-test",
    )
    options = factory.read_options({"context": {"key_prefix": keyspace.prefix}})
    client = backtest_engine.in_process_client(settings, options, "backtest", hyperopt=True)
    assert client.engine.settings.verdict_provider == "rules"
    assert client.engine.components.llm_client is None
    client.close()


@pytest.mark.slow
@pytest.mark.shared_data
def test_freqtrade_hyperopt_runs_with_two_jobs(
    tmp_path: Path, shared_data: Path, markets_snapshot: Path, redis_url: str
) -> None:
    keyspace = Keyspace(prefix=f"t{os.urandom(6).hex()}")
    overlay = tmp_path / "prefix.json"
    knowledge = str(USER_DATA / "knowledge" / "strategy.yaml")
    context = {"key_prefix": keyspace.prefix, "knowledge_file": knowledge}
    overlay.write_text(json.dumps({"context": context}), encoding="utf-8")
    (tmp_path / "user_data").mkdir()  # results go here, not into the checkout
    env = {
        **os.environ,
        "CTX_REDIS_URL": redis_url,
        "CTX_DATA_DIR": str(shared_data),
        "CTX_MARKETS_SNAPSHOT": str(markets_snapshot),
    }
    command = [
        sys.executable, "-m", "context_service", "freqtrade", "--markets", "snapshot",
        "hyperopt",
        "--config", str(USER_DATA / "config.backtest.json"), "--config", str(overlay),
        "--strategy", "ContextGatedStrategy",
        "--hyperopt-loss", "SharpeHyperOptLossDaily",
        "--spaces", "buy", "sell",
        "--epochs", "4", "-j", "2", "--random-state", "42",
        "--timerange", "20220101-20220401",
        "--pairs", "BTC/USDT", "SOL/USDT", "XRP/USDT",
        "--userdir", str(tmp_path / "user_data"),
        "--strategy-path", str(USER_DATA / "strategies"),
        "--disable-param-export",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=480
        )
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=keyspace.pattern, count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "PicklingError" not in output
    assert "Effective number of parallel workers used: 2" in output
    assert "Best result:" in output
    assert "entry_rsi" in output and "atr_trailing_multiplier" in output  # our parameters
    assert REPO_ROOT.exists()


def test_the_tunable_parameters_are_declared_with_their_spaces(sidecar_settings) -> None:
    from freqtrade.strategy.hyper import detect_all_parameters

    strategy = load_strategy(strategy_config())
    spaces = detect_all_parameters(strategy)
    params = {name: p for space in spaces.values() for name, p in space.items()}
    assert {name: p.space for name, p in params.items()} == {
        "entry_rsi": "buy",
        "ema_fast_period": "buy",
        "ema_slow_period": "buy",
        "ema_trend_period": "buy",
        "min_verdict_confidence": "buy",
        "atr_trailing_multiplier": "sell",
    }
    assert params["ema_fast_period"].high < params["ema_slow_period"].low  # fast stays faster
    assert params["ema_trend_period"].high <= strategy.startup_candle_count / 3
    assert 0.5 <= params["min_verdict_confidence"].low < params["min_verdict_confidence"].high < 1


def test_config_min_confidence_overrides_the_parameter_and_the_gate_follows_it(
    sidecar_settings, no_db
) -> None:
    import respx

    with respx.mock(base_url="http://sidecar.test", assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True})
        strategy = load_strategy(strategy_config(min_confidence=0.75))
        strategy.bot_start()
        assert strategy.min_verdict_confidence.value == 0.75
        strategy.min_verdict_confidence.value = 0.55  # what a hyperopt epoch does
        strategy.bot_loop_start(current_time=CANDLE + timedelta(hours=1))
    assert strategy.ctx.gate.min_confidence == 0.55


def test_without_an_override_the_parameter_default_stands(sidecar_settings) -> None:
    config = strategy_config()
    del config["context"]["min_confidence"]
    options = factory.read_options(config)
    assert factory.min_confidence_override(options, sidecar_settings) is None
    env_set = Settings(_env_file=None, min_confidence=0.8)
    assert factory.min_confidence_override(options, env_set) == 0.8


def test_hyperopt_ranges_compute_every_ema_once(sidecar_settings, monkeypatch) -> None:
    import numpy as np
    import pandas as pd
    from freqtrade.enums import HyperoptState
    from freqtrade.optimize.hyperopt_tools import HyperoptStateContainer

    strategy = load_strategy(strategy_config())
    # what hyperopt does before it computes the indicators once for all epochs
    monkeypatch.setattr(HyperoptStateContainer, "state", HyperoptState.INDICATORS)
    strategy.ema_trend_period.in_space = True
    dates = pd.date_range("2022-01-01", periods=600, freq="1h", tz="UTC")
    prices = 100 + np.cumsum(np.random.default_rng(1).normal(0, 1, 600))
    frame = pd.DataFrame(
        {"date": dates, "open": prices, "high": prices + 1, "low": prices - 1,
         "close": prices, "volume": 10.0}
    )  # fmt: skip
    out = strategy.populate_indicators(frame, {"pair": "BTC/USDT"})
    assert {f"ema_trend_{p}" for p in range(60, 121)} <= set(out.columns)
    monkeypatch.setattr(HyperoptStateContainer, "state", HyperoptState.OPTIMIZE)
    strategy.ema_trend_period.value = 77  # one epoch's choice
    out = strategy.populate_entry_trend(out, {"pair": "BTC/USDT"})
    assert out["ema_trend"].equals(out["ema_trend_77"])


def test_hyperopt_files_verdicts_apart_and_starts_its_trail_empty(
    settings: Settings, keyspace: Keyspace
) -> None:
    config = backtest_config(keyspace)
    del config["context"]["bot_id"]  # the default id of a hyperopt run
    first = build_strategy_context(config, in_process=True, settings=settings)
    assert first.bot_id == "backtest-hyperopt"  # never mixed into the last backtest's trail
    first.gate.fetch(snapshot(), as_of=CANDLE + timedelta(hours=1))
    trail = first.client.engine.components.memory.bot("backtest-hyperopt").audit
    assert len(trail.query(kind="verdict")) == 1
    worker = pickle.loads(cloudpickle.dumps(first))  # a worker keeps the run's trail
    worker.gate.fetch(
        snapshot(candle=CANDLE + timedelta(hours=1)), as_of=CANDLE + timedelta(hours=2)
    )
    assert len(trail.query(kind="verdict")) == 2
    build_strategy_context(config, in_process=True, settings=settings)
    assert trail.query(kind="verdict") == []  # the next hyperopt run starts empty
