"""``python -m context_service evaluate`` on a small slice of the real KuCoin candles.

Two pairs, two months, two random seeds, two look-ahead signals: fast enough for the suite and
still every stage for real (Freqtrade backtests, the rules gate through the service, the random
gate, the analyses, the report in headless Chromium). An independent plain ``backtest
--no-gating`` on the same slice is the reference for the ungated variant and the shadow trades.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis

from context_service.settings import REPO_ROOT, USER_DATA

PAIRS = ["BTC/USDT", "SOL/USDT"]
TIMERANGE = "20220101-20220301"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


@dataclass
class Runs:
    tmp: Path
    env: dict[str, str]
    config: Path
    evaluation: dict[str, Any]
    evaluate_output: str
    plain_trades: list[dict[str, Any]]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "context_service", *args]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, markets_snapshot: Path, redis_url
) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("evaluate")
    prefix = f"t{uuid.uuid4().hex[:12]}"
    config = json.loads((USER_DATA / "config.backtest.json").read_text())
    config["context"]["key_prefix"] = prefix
    config_path = tmp / "config.json"
    config_path.write_text(json.dumps(config))
    env = {
        **os.environ,
        "CTX_REDIS_URL": redis_url,
        "CTX_DATA_DIR": str(shared_data),
        "CTX_MARKETS_SNAPSHOT": str(markets_snapshot),
    }
    out = tmp / "out"
    done = cli(
        env, "evaluate", "--config", str(config_path), "--pairs", *PAIRS,
        "--timerange", TIMERANGE, "--markets", "snapshot", "--seeds", "2",
        "--certificate-signals", "2", "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = tmp / "plain.json"
    plain = cli(
        env, "backtest", "--config", str(config_path), "--no-gating", "--pairs", *PAIRS,
        "--timerange", TIMERANGE, "--markets", "snapshot", "--summary-json", str(summary),
        "--", "--backtest-directory", str(tmp),
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr[-3000:]
    trades = json.loads(summary.with_suffix(".trades.json").read_text())
    yield Runs(tmp, env, config_path, json.loads(done.stdout), done.stderr, trades)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def variant(runs: Runs, name: str) -> dict[str, Any]:
    return next(v for v in runs.evaluation["variants"] if v["name"] == name)


def test_every_variant_ran_on_the_same_period(runs: Runs) -> None:
    names = [v["name"] for v in runs.evaluation["variants"]]
    assert names == ["ungated", "gated:rules", "random~rules#1", "random~rules#2"]
    assert {h["name"] for h in runs.evaluation["holds"]} == {
        "hold:BTC/USDT", "hold:SOL/USDT", "hold:basket"
    }  # fmt: skip
    assert "[1/2] ungated: " in runs.evaluate_output  # progress while variants run
    gate = runs.evaluation["gates"][0]
    assert gate["vs_random"]["low"] <= gate["vs_random"]["estimate"] <= gate["vs_random"]["high"]
    assert gate["windows"] and gate["regimes"]
    assert runs.evaluation["verdicts"][0].startswith("gated:rules vs random: ")


def test_ungated_variant_is_the_plain_backtest(runs: Runs) -> None:
    """Sharing one Backtesting object changes nothing: same trades, same profit."""
    ungated = variant(runs, "ungated")
    assert ungated["trades"] == len(runs.plain_trades) > 0
    assert ungated["profit_abs"] == pytest.approx(sum(t["profit_abs"] for t in runs.plain_trades))


def test_shadow_outcomes_are_trades_of_the_ungated_run(runs: Runs) -> None:
    shadow = runs.evaluation["gates"][0]["shadow"]
    by_entry = {
        (t["pair"], pd.Timestamp(t["open_date"])): t for t in runs.plain_trades
    }  # the independent plain run
    refused = shadow["refused_trades"]
    assert len(refused) == shadow["refused"]["with_trade"]
    for row in refused:
        opened = pd.Timestamp(row["candle"]) + pd.Timedelta(hours=1)
        trade = by_entry[(row["pair"], opened)]
        assert row["ungated_profit_abs"] == pytest.approx(trade["profit_abs"], abs=1e-6)
    total = sum(r["ungated_profit_abs"] for r in refused)
    assert shadow["refused_net_value_abs"] == pytest.approx(total, abs=1e-4)
    decided = shadow["approved"]["decisions"] + shadow["refused"]["decisions"]
    assert decided > 0


def test_parallel_workers_give_the_same_figures(runs: Runs, tmp_path: Path) -> None:
    done = cli(
        runs.env, "evaluate", "--config", str(runs.config), "--pairs", *PAIRS,
        "--timerange", TIMERANGE, "--markets", "snapshot", "--seeds", "1", "--workers", "2",
        "--no-certificate", "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "in 2 workers" in done.stderr
    parallel = {v["name"]: v for v in json.loads(done.stdout)["variants"]}
    assert list(parallel) == ["ungated", "gated:rules", "random~rules#1"]
    for name, figures in parallel.items():
        expected = {k: v for k, v in variant(runs, name).items() if k != "seconds"}
        assert {k: v for k, v in figures.items() if k != "seconds"} == expected


def test_certificate_is_stamped(runs: Runs) -> None:
    cert = runs.evaluation["certificate"]
    assert cert["lookahead"]["signals_checked"] == 2 and not cert["lookahead"]["all_signals"]
    assert len(cert["data_sha256"]) == 64 and cert["code"]["strategy_sha256"]
    assert [c["pair"] for c in cert["recursive"]] == PAIRS
    assert cert["passed"] is True


def test_report_is_self_contained_and_renders_in_headless_chromium(runs: Runs) -> None:
    html_path = Path(runs.evaluation["files"]["html"])
    text = html_path.read_text()
    outside_scripts = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    assert "Plotly" in text and "src=" not in outside_scripts and "http" not in outside_scripts
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/ensure-test-tools.sh installs it)")
    offline = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000"]  # fmt: skip
    dom = subprocess.run(
        [*offline, "--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120
    )
    # plotly drew the charts with no network: its SVG roots are in the rendered page
    assert dom.stdout.count('class="main-svg"') >= 3, dom.stderr[-2000:]
    shot = runs.tmp / "report.png"
    done = subprocess.run(
        [*offline, "--window-size=1280,1800", f"--screenshot={shot}", html_path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 20_000, done.stderr[-2000:]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pairs", "ETH/USDT"], "not in the markets snapshot"),
        (["--pairs", "BTC/USDT", "--timerange", "20300101-20300201"], "no candles"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    runs: Runs, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    env = {**runs.env, "CTX_LLM_ENABLED": "false"}
    done = cli(env, "evaluate", "--config", str(runs.config), "--markets", "snapshot",
               "--no-certificate", "--out", str(out), *args)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate: ") and message in last
    assert not out.exists() or not any(out.iterdir())
    # the next good request still works (the module's run is that request; it is cached)
    assert runs.evaluation["variants"]
