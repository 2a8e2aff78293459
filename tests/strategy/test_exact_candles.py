"""Backtests read candle prices exactly, so a trade force-exited on the last candle is filled.

Freqtrade's JSON loader parsed ``0.58036`` as ``0.5803600000000001``; its end-of-backtest
force-exit at the last open rounded to the tick (``0.58036``) then fell under the candle's low
and never filled, the trade vanished from the results, and lookahead-analysis (whose backtests
end one candle after each entry) reported the entry as biased (context_service/backtest/
candles.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from freqtrade.data.history.datahandlers import jsondatahandler
from freqtrade.data.history.datahandlers.jsondatahandler import JsonDataHandler
from freqtrade.enums import CandleType
from freqtrade.exchange import price_to_precision
from freqtrade.optimize.backtesting import Backtesting

from context_service.backtest.candles import exact_candles
from context_service.settings import REPO_ROOT

HOUR_MS = 3_600_000
T0 = 1_627_066_800_000  # 2021-07-23 19:00 UTC
# Candles that opened at their low or high, with prices the fast float parser misreads (taken
# from the shared KuCoin data: XRP 2021-07-23 19:00, MATIC 2021-10-24 18:00 and 2022-10-27
# 19:00, the last candles of the three flagged entries' cut runs), and the pairs' price ticks.
CANDLES = [
    [T0, 0.58036, 0.5849, 0.58036, 0.58433, 1028794.5],
    [T0 + HOUR_MS, 1.5576, 1.5576, 1.5258, 1.5406, 20000.0],
    [T0 + 2 * HOUR_MS, 0.9165, 0.9252, 0.9165, 0.9238, 30000.0],
]
TICKS = [1e-5, 1e-4, 1e-4]
TICK_SIZE = 4  # ccxt's precision mode of KuCoin


def _load(datadir: Path):
    handler = JsonDataHandler(datadir)
    return handler.ohlcv_load("TEST/USDT", "1h", candle_type=CandleType.SPOT, fill_missing=False)


@pytest.fixture
def datadir(tmp_path: Path) -> Path:
    (tmp_path / "TEST_USDT-1h.json").write_text(json.dumps(CANDLES), encoding="utf-8")
    return tmp_path


def test_prices_are_read_as_written(datadir: Path) -> None:
    with exact_candles():
        frame = _load(datadir)
    loaded = frame[["open", "high", "low", "close"]].to_numpy().tolist()
    assert loaded == [row[1:5] for row in CANDLES]


def test_force_exit_at_the_last_open_fills(datadir: Path) -> None:
    """Freqtrade's own fill check for an exit at the candle's open rounded to the tick."""
    with exact_candles():
        frame = _load(datadir)
    for row, tick in zip(frame.itertuples(index=False), TICKS, strict=True):
        rate = price_to_precision(row.open, tick, TICK_SIZE)
        candle = (row.date, row.open, row.high, row.low, row.close)
        assert Backtesting._get_order_filled(None, rate, candle), (rate, candle)  # type: ignore[arg-type]


def test_the_loader_is_restored_after_the_block(datadir: Path) -> None:
    original = jsondatahandler.read_json
    with pytest.raises(RuntimeError), exact_candles():
        assert jsondatahandler.read_json is not original
        raise RuntimeError("boom")
    assert jsondatahandler.read_json is original


@pytest.mark.slow
@pytest.mark.shared_data
def test_cut_backtest_keeps_the_entry_lookahead_flagged(
    tmp_path: Path, shared_data: Path, markets_snapshot: Path
) -> None:
    """The backtest lookahead-analysis ran for XRP's 2021-07-23 18:00 entry (ending one candle
    after it) has that trade, force-exited on the last candle, as the full backtest does."""
    out = tmp_path / "summary.json"
    env = {**os.environ, "CTX_DATA_DIR": str(shared_data)}
    command = [
        sys.executable, "-m", "context_service", "backtest",
        "--timerange", "20210701-1627066800",  # 2021-07-01 to 2021-07-23 19:00 UTC
        "--pairs", "XRP/USDT",
        "--no-gating", "--no-memory", "--no-protections",
        "--markets", "snapshot", "--snapshot", str(markets_snapshot),
        "--summary-json", str(out),
        "--", "--backtest-directory", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    trades = json.loads(out.with_suffix(".trades.json").read_text(encoding="utf-8"))
    opened = {t["open_date"]: t for t in trades}
    assert "2021-07-23 18:00:00+00:00" in opened, sorted(opened)
    last = opened["2021-07-23 18:00:00+00:00"]
    assert last["exit_reason"] == "force_exit"
    assert last["close_rate"] == 0.58036
