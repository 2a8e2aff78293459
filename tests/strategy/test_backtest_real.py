"""A real Freqtrade backtest of the strategy on real KuCoin candles, offline, with rules verdicts.

Runs ``python -m context_service backtest`` in a subprocess (as ``make backtest`` does) on three
pairs and four months of 1h candles, with trade memory in the test Redis under a unique prefix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from context_service.buildinfo import strategy_version
from context_service.keys import Keyspace
from context_service.memory.audit import AuditTrail
from context_service.memory.trades import TradeMemory
from context_service.settings import REPO_ROOT

PAIRS = ["BTC/USDT", "SOL/USDT", "XRP/USDT"]
TIMERANGE = "20220101-20220501"
BUDGET = 100.0

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


@dataclass
class BacktestRun:
    returncode: int
    output: str
    summary: dict[str, Any]
    trades: list[dict[str, Any]]
    keyspace: Keyspace
    client: redis.Redis
    version: str  # the strategy version when the run started


def run_backtest(
    tmp: Path, data: Path, snapshot: Path, redis_url: str, prefix: str, *extra: str
) -> subprocess.CompletedProcess:
    overlay = tmp / "overlay.json"
    overlay.write_text(json.dumps({"context": {"key_prefix": prefix}}), encoding="utf-8")
    env = {
        **os.environ,
        "CTX_REDIS_URL": redis_url,
        "CTX_DATA_DIR": str(data),
        "CTX_MARKETS_SNAPSHOT": str(snapshot),
    }
    command = [
        sys.executable, "-m", "context_service", "backtest",
        "--timerange", TIMERANGE,
        "--pairs", *PAIRS,
        "--markets", "snapshot",
        "--summary-json", str(tmp / "summary.json"),
        *extra,
        "--",
        "--config", str(overlay),
        "--backtest-directory", str(tmp / "results"),
    ]  # fmt: skip
    (tmp / "results").mkdir(exist_ok=True)
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def gated_run(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, markets_snapshot: Path, redis_url
) -> Iterator[BacktestRun]:
    tmp = tmp_path_factory.mktemp("backtest")
    keyspace = Keyspace(prefix=f"t{uuid.uuid4().hex[:12]}")
    strategy_version.cache_clear()
    version = strategy_version()
    done = run_backtest(tmp, shared_data, markets_snapshot, redis_url, keyspace.prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    summary_path = tmp / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    trades_path = summary_path.with_suffix(".trades.json")
    trades = json.loads(trades_path.read_text()) if trades_path.exists() else []
    output = done.stdout + done.stderr
    yield BacktestRun(done.returncode, output, summary, trades, keyspace, client, version)
    keys = list(client.scan_iter(match=keyspace.pattern, count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def test_backtest_runs_offline_and_trades(gated_run: BacktestRun) -> None:
    assert gated_run.returncode == 0, gated_run.output[-3000:]
    assert "Markets loaded from snapshot" in gated_run.output
    assert "BACKTESTING REPORT" in gated_run.output
    assert "CONTEXT SERVICE SUMMARY" in gated_run.output
    assert gated_run.summary["trades"] >= 5
    assert len(gated_run.trades) == gated_run.summary["trades"]
    assert gated_run.summary["buy_and_hold_pct"] is not None  # the trader's comparison


def test_stake_in_use_never_exceeds_budget(gated_run: BacktestRun) -> None:
    """At every entry, the entries still open (cost plus entry fee) fit in the budget."""
    trades = gated_run.trades
    assert trades
    for trade in trades:
        moment = trade["open_timestamp"]
        in_use = sum(
            t["stake_amount"] * (1 + t["fee_open"])
            for t in trades
            if t["open_timestamp"] <= moment and (t["close_timestamp"] or 1e20) > moment
        )
        assert in_use <= BUDGET + 1e-6, (trade["pair"], trade["open_date"], in_use)
    assert gated_run.summary["budget_held"] is True
    assert gated_run.summary["peak_stake_in_use"] <= BUDGET + 1e-6
    # the budget is actually used: more than one slot at a time at some point
    assert gated_run.summary["peak_stake_in_use"] > BUDGET / 3


def test_verdict_sources_and_refusals_are_recorded(gated_run: BacktestRun) -> None:
    gating = gated_run.summary["gating"]
    assert gating["gating"] is True
    assert gating["verdicts_by_source"].get("rules", 0) > 0
    assert set(gating["verdicts_by_source"]) <= {"rules", "hold"}
    assert gating["entries_confirmed"] >= len(gated_run.trades)
    assert gating["engine_unavailable"] == 0
    assert gating["context_tokens_per_decision"] > 0
    assert gating["llm_cost_usd"] == 0


def test_trade_memory_has_every_trade_with_the_verdict_that_opened_it(
    gated_run: BacktestRun,
) -> None:
    keys = gated_run.keyspace.bot("backtest")
    records = TradeMemory(gated_run.client, keys).closed_trades()
    finished = [t for t in gated_run.trades if not t["is_open"]]
    assert len(records) >= len(finished) > 0
    assert all(r.verdict_id for r in records)
    assert all(r.confidence >= 0.6 for r in records)
    # traceable to the build: the checkout's commit and one config for the whole run
    assert {r.strategy_version for r in records} == {gated_run.version}
    assert len({r.config_hash for r in records}) == 1 and records[0].config_hash


def test_every_entry_followed_a_point_in_time_buy_verdict(gated_run: BacktestRun) -> None:
    """The verdict behind each trade was asked for the candle before entry, as of its close."""
    keys = gated_run.keyspace.bot("backtest")
    audit = AuditTrail(gated_run.client, keys).query(kind="verdict", limit=100_000)
    verdicts = {e.payload["verdict"]["verdict_id"]: e.payload for e in audit}
    records = TradeMemory(gated_run.client, keys).closed_trades()
    assert records
    for record in records:
        entry = verdicts[record.verdict_id]
        verdict = entry["verdict"]
        assert verdict["action"] == "buy" and verdict["source"] == "rules"
        assert verdict["config_hash"] == record.config_hash
        candle = datetime.fromisoformat(verdict["candle_time"]).astimezone(UTC)
        opened = record.open_time.astimezone(UTC)
        assert candle + timedelta(hours=1) == opened
        assert datetime.fromisoformat(entry["as_of"]).astimezone(UTC) <= opened


def test_plot_dataframe_after_the_backtest_shows_its_verdicts(
    gated_run: BacktestRun, tmp_path: Path, shared_data: Path, markets_snapshot: Path, redis_url
) -> None:
    """Plain `freqtrade plot-dataframe` (through the passthrough) fills the Verdicts subplot
    from the backtest's audit trail."""
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"context": {"key_prefix": gated_run.keyspace.prefix}}))
    env = {**os.environ, "CTX_REDIS_URL": redis_url, "CTX_MARKETS_SNAPSHOT": str(markets_snapshot)}
    done = subprocess.run(
        [
            sys.executable, "-m", "context_service", "freqtrade", "--markets", "snapshot",
            "plot-dataframe",
            "--config", str(REPO_ROOT / "user_data" / "config.backtest.json"),
            "--config", str(overlay),
            "--strategy", "ContextGatedStrategy",
            "--datadir", str(shared_data),
            "--pairs", "BTC/USDT",
            "--timerange", TIMERANGE,
            "--no-trades",
        ],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    audit = AuditTrail(gated_run.client, gated_run.keyspace.bot("backtest"))
    filed = len(audit.query(kind="verdict", limit=100_000))
    assert f"verdict markers: {filed} verdicts of bot 'backtest'" in output
    plot = REPO_ROOT / "user_data" / "plot" / "freqtrade-plot-BTC_USDT-1h.html"
    html = plot.read_text(encoding="utf-8")
    assert '"name":"verdict_buy"' in html or '"name": "verdict_buy"' in html


def test_gating_off_runs_the_plain_strategy(
    tmp_path: Path, shared_data: Path, markets_snapshot: Path, redis_url, keyspace
) -> None:
    done = run_backtest(
        tmp_path, shared_data, markets_snapshot, redis_url, keyspace.prefix, "--no-gating"
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["gating"]["gating"] is False
    assert summary["gating"]["decisions"] == 0
    assert summary["budget_held"] is True
    assert summary["trades"] > 0
