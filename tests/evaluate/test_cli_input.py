"""Bad input to ``evaluate`` is refused before any backtest: one line, exit code 2, no files.

(Unknown pairs and a timerange without candles need the data: test_evaluate_real.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from context_service.evaluate import cli
from context_service.settings import get_settings


@pytest.fixture(autouse=True)
def no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTX_LLM_ENABLED", "false")
    monkeypatch.delenv("CTX_LLM_API_KEY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--provider", "oracle"], "unknown verdict provider 'oracle'; registered:"),
        (["--provider", "random"], "'random' is the control"),
        (["--provider", "rules", "--provider", "rules"], "twice"),
        (["--provider", "llm"], "CTX_LLM_ENABLED=true and CTX_LLM_API_KEY"),
        (["--seeds", "0"], "--seeds must be between 1 and 100"),
        (["--seeds", "-3"], "--seeds must be between 1 and 100"),
        (["--seeds", "1000000"], "--seeds must be between 1 and 100"),
        (["--seeds", "nan"], "invalid int value"),
        (["--workers", "0"], "--workers"),
        (["--windows", "0"], "--windows"),
        (["--windows", "quarter\n"], "--windows"),
        (["--timerange", "20220101-20220101x"], "--timerange"),
        (["--timerange", "x" * 10_000], "--timerange"),
        (["--pairs", "BTC/USDT\n"], "not a spot pair"),
        (["--pairs", "BTC/USDT", "../../etc/passwd"], "not a spot pair"),
        (["--pairs", "\x1b[31mBTC/USDT"], "not a spot pair"),
        (["--certificate-signals", "0"], "--certificate-signals"),
        (["--no-such-option"], "unrecognized arguments"),
        (["--max-usd", "nan"], "--max-usd: must be a positive number of USD"),
        (["--max-usd", "-1"], "--max-usd: must be a positive number of USD"),
        (["--max-usd", "0"], "--max-usd: must be a positive number of USD"),
        (["--max-usd", "Infinity"], "--max-usd: must be a positive number of USD"),
        (["--max-usd", "2\n"], "--max-usd: must be a positive number of USD"),
        (["--mask-sample", str(10**9)], "--mask-sample: must be a whole number from 0"),
        (["--mask-sample", "-5"], "--mask-sample: must be a whole number from 0"),
    ],
)
def test_refused_with_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    try:
        code = cli.main(["--out", str(out), *args])
    except SystemExit as exc:  # argparse's own errors go through the same one-line error
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("evaluate: ") and message in err[0]
    assert not out.exists()


def test_llm_provider_needs_positive_caps(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTX_LLM_ENABLED", "true")
    monkeypatch.setenv("CTX_LLM_API_KEY", "sk-test")
    monkeypatch.setenv("CTX_CAP_MONTHLY_USD", "0")
    get_settings.cache_clear()
    args = cli.parse_args(["--provider", "llm"])
    with pytest.raises(cli.InputProblem, match="spends money"):
        cli.validate(args)
    monkeypatch.setenv("CTX_CAP_MONTHLY_USD", "5")
    get_settings.cache_clear()
    cli.validate(args)  # the next good configuration passes
    assert args.provider == ["llm"]
