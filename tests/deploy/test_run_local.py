"""`make run` without Docker: fails clearly offline, otherwise starts sidecar + dry-run bot."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from context_service.fleet import local
from context_service.fleet.local import KUCOIN_PROBE_URL, probe_kucoin, run_local


@respx.mock
def test_unreachable_kucoin_stops_with_a_clear_message(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.get(KUCOIN_PROBE_URL).mock(side_effect=httpx.ConnectError("Name or service not known"))
    launched: list = []
    status = run_local(project, Path("bots.yaml"), launch=lambda *a, **k: launched.append(a))
    assert status == local.EXIT_NO_NETWORK
    err = capsys.readouterr().err
    assert "KuCoin's API (api.kucoin.com) cannot be reached" in err
    assert "Name or service not known" in err
    assert "make backtest" in err
    assert launched == []


@respx.mock
def test_kucoin_error_status_counts_as_unreachable() -> None:
    respx.get(KUCOIN_PROBE_URL).mock(return_value=httpx.Response(503))
    with pytest.raises(local.KucoinUnreachable, match="HTTP 503"):
        probe_kucoin()


class _FakeProcess:
    """Exits at once (code 0 for the sidecar stand-in)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv, self.env, self.returncode = argv, env, None
        self.terminated = False

    def poll(self):
        return self.returncode

    def terminate(self) -> None:
        self.terminated = True
        self.returncode = -15

    def wait(self, timeout=None):
        return self.returncode


def test_starts_sidecar_then_a_forced_dry_run_bot(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[_FakeProcess] = []

    def launch(argv, cwd, env):
        process = _FakeProcess(argv, cwd, env)
        if len(started) == 1:
            process.returncode = 0  # the bot ends at once so run_local returns
        started.append(process)
        return process

    monkeypatch.setenv("CTX_LIVE_TRADING", "I_UNDERSTAND")
    monkeypatch.setenv("CTX_REDIS_URL", "redis://elsewhere:6379/0")
    monkeypatch.setattr(local, "_wait_healthy", lambda url, process: True)
    status = run_local(project, Path("bots.yaml"), "alt-swing", probe=lambda: None, launch=launch)
    sidecar, bot = started
    assert sidecar.argv[-2:] == ["context_service", "serve"]
    assert bot.argv[2:5] == ["freqtrade", "trade", "--dry-run"]
    assert bot.argv[bot.argv.index("--strategy") + 1] == "ContextGatedStrategy"
    env = bot.env
    assert env["CTX_BOT_ID"] == "alt-swing"
    assert "CTX_LIVE_TRADING" not in env and "CTX_REDIS_URL" not in env  # embedded Redis
    assert env["CTX_HOST"] == "127.0.0.1"
    config = json.loads((project / "user_data/fleet-local/alt-swing.config.json").read_text())
    assert config["dry_run"] is True
    assert config["api_server"]["listen_ip_address"] == "127.0.0.1"
    assert config["api_server"]["listen_port"] == 8082
    assert sidecar.terminated  # stopped when the bot ended
    assert status == 1  # a bot that exits at once is reported as a failure
