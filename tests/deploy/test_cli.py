"""`fleet up|down|logs|ps|check|render` drive Docker Compose correctly, and validate first."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from context_service.fleet import cli, runner
from deploy.fleet_helpers import edit_fleet


@pytest.fixture
def compose_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `docker-compose` executable that records each call's argv as a JSON line."""
    log = tmp_path / "calls.jsonl"
    fake = tmp_path / "bin" / "docker-compose"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n",
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(runner, "find_compose", lambda: [str(fake)])
    monkeypatch.setattr(runner, "check_engine", lambda: None)  # the fake needs no engine
    return log


def _calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def _tail(call: list[str]) -> list[str]:
    """The compose sub-command and its arguments (after the --file option)."""
    return call[call.index("--file") + 2 :]


def _run(project: Path, *args: str) -> int:
    return cli.main(["--root", str(project), *args])


def test_up_checks_renders_and_starts_everything(project: Path, compose_calls: Path) -> None:
    assert _run(project, "up") == 0
    (call,) = _calls(compose_calls)
    assert call[call.index("--project-directory") + 1] == str(project)
    assert call[call.index("--file") + 1] == str(project / "docker/generated/compose.yaml")
    assert _tail(call) == ["up", "--detach", "--remove-orphans", "--build"]
    assert (project / "docker/generated/compose.yaml").is_file()
    assert (project / "user_data/db/btc-trend").is_dir()


def test_up_with_observability_adds_the_profile_and_the_scrape_token(
    project: Path, compose_calls: Path
) -> None:
    assert _run(project, "up", "--observability") == 0
    (call,) = _calls(compose_calls)
    assert call[call.index("--profile") + 1] == "observability"
    assert (project / "docker/generated/prometheus-token").read_text().startswith("Xq7-")
    assert _run(project, "up") == 0  # without the flag: no profile
    assert "--profile" not in _calls(compose_calls)[-1]


def test_up_refuses_and_starts_nothing_when_something_is_missing(
    project: Path, compose_calls: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "docker/env/btc-trend.env").unlink()
    edit_fleet(project, lambda d: d["bots"][1].__setitem__("dry_run", False))
    assert _run(project, "up") == 2
    err = capsys.readouterr().err
    assert "docker/env/btc-trend.env is missing" in err
    assert "CTX_LIVE_TRADING=I_UNDERSTAND" in err
    assert "nothing was started" in err
    assert _calls(compose_calls) == []


def test_up_one_bot_never_recreates_the_shared_services(project: Path, compose_calls) -> None:
    assert _run(project, "up", "--bot", "alt-swing") == 0
    shared, bot = _calls(compose_calls)
    assert _tail(shared) == ["up", "--detach", "--no-recreate", "redis", "sidecar"]
    assert _tail(bot) == ["up", "--detach", "--no-deps", "--build", "bot-alt-swing"]


def test_down_one_bot_removes_only_its_container(project: Path, compose_calls) -> None:
    assert _run(project, "down", "--bot", "btc-trend") == 0
    (call,) = _calls(compose_calls)
    assert _tail(call) == ["rm", "--stop", "--force", "bot-btc-trend"]


def test_down_logs_ps(project: Path, compose_calls: Path) -> None:
    assert _run(project, "down") == 0
    assert _run(project, "logs", "--bot", "btc-trend", "--no-follow") == 0
    assert _run(project, "ps") == 0
    tails = [_tail(c) for c in _calls(compose_calls)]
    assert tails == [["down"], ["logs", "--tail", "200", "bot-btc-trend"], ["ps"]]


def test_unknown_bot_is_a_clear_error(project: Path, compose_calls, capsys) -> None:
    assert _run(project, "up", "--bot", "nope") == 2
    assert "no bot 'nope'" in capsys.readouterr().err
    assert _calls(compose_calls) == []


def test_check_and_render(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(project, "check") == 0
    assert "fleet OK: 2 bot(s)" in capsys.readouterr().out
    assert _run(project, "render") == 0
    assert "docker/generated/compose.yaml" in capsys.readouterr().out


def test_missing_fleet_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "bots.yaml").unlink()
    assert _run(project, "up") == 2
    assert "copy bots.example.yaml" in capsys.readouterr().err


def test_no_compose_installed_says_what_to_install(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(project))  # nothing executable there
    assert _run(project, "ps") == 2
    assert "Docker Compose not found" in capsys.readouterr().err


def test_module_entry_point_lists_fleet() -> None:
    from context_service.__main__ import COMMANDS

    assert COMMANDS["fleet"][0] == "context_service.fleet.cli"
    assert os.path.exists(Path(cli.__file__))
