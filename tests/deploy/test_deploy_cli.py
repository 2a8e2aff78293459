"""`fleet deploy|rollback|deploy-status` on the command line: checked input, clear errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from context_service.fleet import cli
from context_service.settings import get_settings


@pytest.fixture
def docker_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Path:
    """A fake `docker` on PATH recording its calls; Redis from the test settings."""
    log = tmp_path / "docker-calls.jsonl"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n",
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setenv("CTX_REDIS_URL", redis_url)
    get_settings.cache_clear()
    yield log
    get_settings.cache_clear()


def _run(project: Path, *args: str) -> int:
    return cli.main(["--root", str(project), *args])


def test_status_of_a_bot_never_deployed(project: Path, docker_calls: Path, capsys) -> None:
    assert _run(project, "deploy-status", "--bot", "btc-trend") == 0
    state = json.loads(capsys.readouterr().out)
    assert state["phase"] == "live" and state["live"] is None and state["history"] == []
    assert not docker_calls.exists()


@pytest.mark.parametrize("image", ["bad image", "x" * 300, "tag\n"])
def test_a_bad_image_is_refused_before_any_container_starts(
    project: Path, docker_calls: Path, capsys, image: str
) -> None:
    assert _run(project, "deploy", "--bot", "btc-trend", "--image", image) == 1
    assert "image" in capsys.readouterr().err
    assert not docker_calls.exists()
    # the next good command still works
    assert _run(project, "deploy-status", "--bot", "btc-trend") == 0


def test_unknown_bot_bad_timings_and_nothing_to_roll_back(
    project: Path, docker_calls: Path, capsys
) -> None:
    assert _run(project, "deploy", "--bot", "nope", "--image", "bot:2") == 1
    assert "no bot 'nope'" in capsys.readouterr().err
    assert _run(project, "deploy", "--bot", "btc-trend", "--image", "bot:2",
                "--gate-seconds", "nan") == 1  # fmt: skip
    assert "gate_s" in capsys.readouterr().err
    assert _run(project, "rollback", "--bot", "btc-trend") == 1
    assert "no previous version" in capsys.readouterr().err
    assert not docker_calls.exists()
