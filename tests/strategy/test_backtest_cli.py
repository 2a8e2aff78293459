"""The backtest command's own logic: data checks, arguments, summary arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_service.backtest import data, run
from context_service.backtest.summary import build_summary, format_summary, peak_exposure


def test_no_candles_offline_stops_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(data.DataProblem) as caught:
        data.ensure_candles(tmp_path, ["BTC/USDT"], "1h", None, reachable=lambda: False)
    message = str(caught.value)
    assert "BTC/USDT" in message and "unreachable" in message and "CTX_DATA_DIR" in message


def test_cli_exit_code_2_when_data_is_missing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(data, "exchange_reachable", lambda: False)
    monkeypatch.setattr(run, "resolve_markets_source", lambda *a, **k: True)
    code = run.main(["--datadir", str(tmp_path), "--pairs", "BTC/USDT"])
    assert code == 2
    assert "cannot be downloaded" in capsys.readouterr().err


def test_present_candles_need_no_download(tmp_path: Path) -> None:
    data.candle_file(tmp_path, "BTC/USDT", "1h").write_text("[]")

    def never() -> bool:
        raise AssertionError("no network check when the data is there")

    data.ensure_candles(tmp_path, ["BTC/USDT"], "1h", None, reachable=never)


def test_freqtrade_arguments() -> None:
    args = run.parse_args(
        ["--timerange", "20220101-20220201", "--no-gating", "--", "--fee", "0.002"]
    )
    argv = run.freqtrade_argv(args, [Path("a.json"), Path("b.json")], Path("/d"), "1h")
    assert argv[0] == "backtesting"
    assert argv.count("--config") == 2
    assert argv[argv.index("--cache") : argv.index("--cache") + 2] == ["--cache", "none"]
    assert "--enable-protections" in argv and argv[-2:] == ["--fee", "0.002"]
    assert run._overlay(args, {})["context"] == {"gating": False}
    lookahead = run.parse_args(["--analysis", "lookahead"])
    argv = run.freqtrade_argv(lookahead, [Path("a.json")], Path("/d"), "1h")
    assert argv[0] == "lookahead-analysis" and "--enable-protections" not in argv
    overlay = run._overlay(lookahead, {"available_capital": 100})
    assert overlay["context"]["budget"] == 100 and overlay["context"]["max_daily_loss"] == 0


def trade(open_ms: int, close_ms: int | None, stake: float) -> dict:
    return {"open_timestamp": open_ms, "close_timestamp": close_ms, "stake_amount": stake,
            "fee_open": 0.001}  # fmt: skip


def test_peak_exposure_counts_overlaps_and_frees_exits_first() -> None:
    trades = [trade(0, 10, 30), trade(5, 20, 30), trade(10, 30, 30), trade(12, None, 10)]
    peak, at = peak_exposure(trades)
    # at t=10 the first trade's exit comes before the third trade's entry
    assert peak == pytest.approx(70 * 1.001) and at == 12


def test_summary_flags_a_budget_breach() -> None:
    result = {
        "trades": [trade(0, 10, 60), trade(5, 20, 60)],
        "profit_total": 0.01,
        "profit_total_abs": 1.0,
        "market_change": -0.05,
        "max_drawdown_account": 0.02,
    }
    summary = build_summary(result, None, budget=100, runtime_s=1.0)
    assert summary["budget_held"] is False
    assert "EXCEEDED" in format_summary(summary)
    assert summary["buy_and_hold_pct"] == -5.0


def test_summary_counts_adjustments_only_when_some_were_applied() -> None:
    from context_service.client.stats import GatingStats

    result = {"trades": [], "profit_total": 0.0, "profit_total_abs": 0.0, "market_change": 0.0}
    stats = GatingStats(bot_id="backtest", budget=100)
    quiet = format_summary(build_summary(result, stats.as_dict(), budget=100, runtime_s=1.0))
    assert "adjustments applied" not in quiet  # the usual summary is unchanged
    stats.adjustments.record("pause_pair")
    stats.adjustments.record("stake_fraction")
    stats.adjustments.record("pause_pair")
    text = format_summary(build_summary(result, stats.as_dict(), budget=100, runtime_s=1.0))
    assert "adjustments applied: 3 (pause_pair 2, stake_fraction 1)" in text
