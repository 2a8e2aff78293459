"""Regime responses fire in real Freqtrade backtests of the May 2021 and June 2022 crashes.

The shipped strategy only enters pullbacks inside an uptrend, so it rarely even tries to enter
during a crash. To see the crash response act, these runs use a probe strategy: the shipped one
plus an entry on every RSI recovery, trend or not (gating off: the risk layer alone decides).
Each window runs twice, with the knowledge file's regime responses and without them: the
control shows the entries the pause refused really would have happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from context_service.knowledge import load_regime_config
from context_service.regime import detect_regimes
from context_service.settings import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

PROBE = '''
import sys
sys.path.insert(0, {strategies!r})
from context_gated import ContextGatedStrategy


class RegimeProbeStrategy(ContextGatedStrategy):
    """Also enters on every RSI recovery through 40, in any trend."""

    def populate_entry_trend(self, dataframe, metadata):
        dataframe = super().populate_entry_trend(dataframe, metadata)
        rsi = dataframe["rsi"]
        extra = (rsi > 40) & (rsi.shift(1) <= 40) & (dataframe["volume"] > 0)
        dataframe.loc[extra, ["enter_long", "enter_tag"]] = (1, "probe")
        return dataframe
'''
CRASHES = {
    "may-2021": ("20210518-20210525", ["BTC/USDT", "XRP/USDT", "DOGE/USDT"]),
    "june-2022": ("20220611-20220617", ["BTC/USDT", "XRP/USDT", "DOGE/USDT", "SOL/USDT"]),
}


def _backtest(tmp: Path, data: Path, snapshot: Path, redis_url: str, timerange, pairs, *extra):
    strategies = tmp / "strategies"
    strategies.mkdir(parents=True, exist_ok=True)
    (strategies / "regime_probe.py").write_text(
        PROBE.format(strategies=str(REPO_ROOT / "user_data" / "strategies")), encoding="utf-8"
    )
    overlay = tmp / "overlay.json"
    prefix = f"t{uuid.uuid4().hex[:12]}"
    overlay.write_text(json.dumps({"context": {"key_prefix": prefix}}), encoding="utf-8")
    results = tmp / "results"
    results.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "CTX_REDIS_URL": redis_url,
        "CTX_DATA_DIR": str(data),
        "CTX_MARKETS_SNAPSHOT": str(snapshot),
    }
    command = [
        sys.executable, "-m", "context_service", "backtest",
        "--timerange", timerange,
        "--pairs", *pairs,
        "--markets", "snapshot",
        "--no-gating", "--no-memory",
        "--summary-json", str(tmp / "summary.json"),
        *extra,
        "--",
        "--config", str(overlay),
        "--strategy-path", str(strategies),
        "--strategy", "RegimeProbeStrategy",
        "--backtest-directory", str(results),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp / "summary.json").read_text())
    return done.stdout, summary, _trades(results)


def _trades(results: Path) -> list[dict[str, Any]]:
    import zipfile

    (archive,) = results.glob("backtest-result-*.zip")
    with zipfile.ZipFile(archive) as z:
        name = next(n for n in z.namelist() if n.endswith(".json") and "_config" not in n)
        content = json.loads(z.read(name))
    (strategy,) = content["strategy"].values()
    return strategy["trades"]


def _market_crash_signals(data: Path) -> set[datetime]:
    """Signal candles (open times) on which the market (BTC/USDT) was in a crash regime."""
    config = load_regime_config(REPO_ROOT / "user_data" / "knowledge" / "strategy.yaml")
    raw = json.loads((data / "BTC_USDT-1h.json").read_text())
    candles = pd.DataFrame(raw, columns=["date", "open", "high", "low", "close", "volume"])
    candles["date"] = pd.to_datetime(candles["date"], unit="ms", utc=True)
    regimes = detect_regimes(candles, config.detection)
    crash = candles.loc[regimes["regime"] == "crash", "date"]
    return {d.to_pydatetime() for d in crash}


def _entered_in_crash(trades, crash: set[datetime]) -> list[dict]:
    found = []
    for trade in trades:
        opened = datetime.fromtimestamp(trade["open_timestamp"] / 1000, tz=UTC)
        if opened - timedelta(hours=1) in crash:  # the signal candle closed as the entry opened
            found.append(trade)
    return found


@pytest.mark.parametrize("window", sorted(CRASHES))
def test_crash_pauses_entries_and_the_control_shows_they_would_have_happened(
    window, tmp_path, shared_data, markets_snapshot, redis_url
) -> None:
    timerange, pairs = CRASHES[window]
    crash = _market_crash_signals(shared_data)
    out, summary, trades = _backtest(
        tmp_path / "on", shared_data, markets_snapshot, redis_url, timerange, pairs
    )
    responses = summary["gating"]["regime_responses"]
    assert responses["entries_paused"] >= 1, out[-2000:]
    assert responses["by_regime"].get("market crash", 0) >= responses["entries_paused"]
    assert f"entries paused by regime: {responses['entries_paused']}" in out
    assert summary["gating"]["entries_refused"]["regime: entries paused"] >= 1
    assert _entered_in_crash(trades, crash) == []  # not one entry on a crash candle
    # high volatility halves the stake: at most half a slot (100 USDT / 3, entry fee reserved)
    halved = [t for t in trades if t["stake_amount"] <= 100 / 3 / 1.001 / 2 + 1e-6]
    assert len(halved) >= responses["stakes_scaled"] >= 1

    out, control, trades = _backtest(
        tmp_path / "off",
        shared_data,
        markets_snapshot,
        redis_url,
        timerange,
        pairs,
        "--no-regime-responses",
    )
    assert control["gating"]["regime_responses"] is None
    assert "regime responses: off" in out
    assert _entered_in_crash(trades, crash), "without the response the probe enters in the crash"
