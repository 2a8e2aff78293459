"""``python -m context_service freqtrade ...``: Freqtrade's own commands, offline.

The unit tests check what the passthrough adds to Freqtrade's argv; the real run is Freqtrade's
plain ``lookahead-analysis`` of the strategy on real candles with the markets snapshot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from context_service.backtest import passthrough
from context_service.backtest.analysis import ANALYSIS_WALLET, analysis_overrides
from context_service.settings import USER_DATA


def test_own_options_come_before_the_subcommand() -> None:
    own, rest = passthrough.parse_own_args(
        ["--markets", "snapshot", "backtesting", "--timerange", "20220101-", "--markets", "x"]
    )
    assert own.markets == "snapshot"
    # everything from the subcommand on is Freqtrade's, even a flag that looks like ours
    assert rest == ["backtesting", "--timerange", "20220101-", "--markets", "x"]


def test_defaults_are_added_only_where_the_command_takes_them(tmp_path: Path) -> None:
    argv = ["backtesting", "--strategy", "ContextGatedStrategy"]
    parsed = passthrough.parsed_freqtrade_args(argv)
    assert parsed is not None
    full = passthrough.with_defaults(argv, parsed, tmp_path)
    assert full[full.index("--datadir") + 1] == str(tmp_path)
    assert full[full.index("--userdir") + 1] == str(USER_DATA)
    assert full[full.index("--config") + 1] == str(passthrough.DEFAULT_CONFIG)

    own = ["backtesting", "--datadir", "/mine", "-c", "mine.json", "--userdir", "u"]
    parsed = passthrough.parsed_freqtrade_args(own)
    assert passthrough.with_defaults(own, parsed, tmp_path) == own  # the user's choices stand

    listing = ["list-exchanges"]  # takes no config, datadir or userdir
    assert passthrough.with_defaults(listing, passthrough.parsed_freqtrade_args(listing), tmp_path)[
        :1
    ] == ["list-exchanges"]


def test_usage_errors_and_help_keep_their_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert passthrough.main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert passthrough.main(["backtesting", "--no-such-option\n"]) == 2
    assert passthrough.main(["backtesting", "--help"]) == 0
    assert "--timerange" in capsys.readouterr().out


def test_analysis_overrides_keep_the_budget_and_lift_the_wallet_cap() -> None:
    overrides = analysis_overrides({"available_capital": 100})
    assert overrides["available_capital"] == ANALYSIS_WALLET
    assert overrides["context"] == {"max_entries_per_day": 0, "max_daily_loss": 0.0, "budget": 100}


def test_usage_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert passthrough.main([]) == 2
    assert "a Freqtrade subcommand is required" in capsys.readouterr().err
    code = passthrough.main(
        ["--markets", "snapshot", "--snapshot", "/nonexistent\n.json", "backtesting"]
    )
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_paid_verdict_chain_is_refused_before_freqtrade_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Backtesting through the passthrough with the LLM on would spend unestimated: refused,
    with the command that estimates and caps; the rules chain still runs."""
    from context_service.settings import get_settings

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"context": {"provider": "llm"}}), encoding="utf-8")
    monkeypatch.setenv("CTX_LLM_ENABLED", "true")
    monkeypatch.setenv("CTX_LLM_API_KEY", "sk-test")
    get_settings.cache_clear()
    try:
        code = passthrough.main(["backtesting", "--config", str(config)])
        assert code == 2
        err = capsys.readouterr().err
        assert "spends money (llm)" in err and "backtest --provider llm" in err
        settings = get_settings()
        assert passthrough.paid_chain_problem({"context": {"provider": "rules"}}, settings) is None
        assert passthrough.paid_chain_problem({"context": {"provider": "replay"}}, settings)
        assert "context.provider" in passthrough.paid_chain_problem(
            {"context": {"provider": "nope\n"}}, settings
        )
        monkeypatch.setenv("CTX_LLM_ENABLED", "false")
        get_settings.cache_clear()
        for provider in ("llm", "replay"):
            config = {"context": {"provider": provider}}
            assert passthrough.paid_chain_problem(config, get_settings()) is None
    finally:
        get_settings.cache_clear()


def run_passthrough(tmp: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "context_service", "freqtrade", *argv],
        cwd=tmp,  # not the repository: no config.json to find, defaults must carry it
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.shared_data
def test_plain_lookahead_analysis_runs_offline_and_finds_no_bias(
    tmp_path: Path, shared_data: Path, markets_snapshot: Path, redis_url: str
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    overlay = tmp_path / "prefix.json"
    overlay.write_text(json.dumps({"context": {"key_prefix": prefix}}), encoding="utf-8")
    env = {
        **os.environ,
        "CTX_REDIS_URL": redis_url,
        "CTX_DATA_DIR": str(shared_data),
        "CTX_MARKETS_SNAPSHOT": str(markets_snapshot),
    }
    try:
        done = run_passthrough(
            tmp_path, env,
            "--markets", "snapshot",
            "lookahead-analysis",
            "--config", str(USER_DATA / "config.backtest.json"),
            "--config", str(overlay),
            "--strategy", "ContextGatedStrategy",
            "--timerange", "20220101-20220315",
            "--pairs", "BTC/USDT", "SOL/USDT", "XRP/USDT",
            "--minimum-trade-amount", "3",
            "--targeted-trade-amount", "6",
            "--lookahead-analysis-exportfilename", str(tmp_path / "lookahead.csv"),
        )  # fmt: skip
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Markets loaded from snapshot" in output
    assert "--datadir " + str(shared_data) in output  # the default was added and printed
    assert "ContextGatedStrategy: no bias detected" in output
    rows = (tmp_path / "lookahead.csv").read_text().splitlines()
    header, row = rows[0].split(","), rows[1].split(",")
    assert row[header.index("has_bias")] == "False"
    assert int(row[header.index("total_signals")]) > 3
