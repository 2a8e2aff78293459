"""`fleet check` / `fleet up` say clearly what is missing before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_service.fleet.checks import check_fleet, errors
from context_service.fleet.model import load_fleet
from deploy.fleet_helpers import edit_fleet, write_env


def _messages(root: Path) -> list[str]:
    return [str(p) for p in check_fleet(load_fleet(root / "bots.yaml"), root)]


def test_complete_dry_run_fleet_has_no_errors(project: Path) -> None:
    assert errors(check_fleet(load_fleet(project / "bots.yaml"), project)) == []


def test_missing_env_file_names_the_template(project: Path) -> None:
    (project / "docker/env/alt-swing.env").unlink()
    (errs,) = _messages(project)
    assert "bot alt-swing" in errs
    assert "docker/env/alt-swing.env is missing" in errs
    assert "docker/env/bot.env.example" in errs


def test_placeholder_shared_secrets_are_errors(project: Path) -> None:
    write_env(project / "docker/env/fleet.env", FREQTRADE__API_SERVER__USERNAME="change-me")
    unset, template = _messages(project)
    assert "FREQTRADE__API_SERVER__PASSWORD" in unset and "not set" in unset
    assert "FREQTRADE__API_SERVER__USERNAME" in template and "placeholder" in template


def test_a_commented_placeholder_is_still_a_placeholder(project: Path) -> None:
    """What the template's reader writes: compose reads the value as 'change-me'."""
    env = project / "docker/env/fleet.env"
    key = "FREQTRADE__API_SERVER__PASSWORD="
    lines = [
        f"{key}change-me # fill me" if line.startswith(key) else line
        for line in env.read_text(encoding="utf-8").splitlines()
    ]
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (msg,) = _messages(project)
    assert "FREQTRADE__API_SERVER__PASSWORD" in msg and "placeholder" in msg
    assert "fill me" not in msg


def test_the_operator_token_stays_out_of_the_bots_env(project: Path) -> None:
    shared = (project / "docker/env/fleet.env").read_text()
    (project / "docker/env/fleet.env").write_text(shared + "CTX_API_TOKEN=" + "Zk3" * 12 + "\n")
    (msg,) = _messages(project)
    assert "would give every bot the operator token" in msg and "Zk3" not in msg


@pytest.mark.parametrize("token", ["change-me", "short-token", "a" * 40])
def test_a_missing_or_weak_operator_token_is_refused(project: Path, token: str) -> None:
    write_env(project / "docker/env/sidecar.env", CTX_API_TOKEN=token)
    (msg,) = _messages(project)
    assert "CTX_API_TOKEN" in msg and token not in msg


def test_a_weak_bot_token_is_refused(project: Path) -> None:
    env = project / "docker/env/btc-trend.env"
    env.write_text(env.read_text() + "CTX_BOT_TOKEN=password1password1\n")
    (msg,) = _messages(project)
    assert "bot btc-trend" in msg and "CTX_BOT_TOKEN" in msg and "too weak" in msg


def test_live_without_opt_in_is_refused(project: Path) -> None:
    edit_fleet(project, lambda d: d["bots"][0].__setitem__("dry_run", False))
    write_env(
        project / "docker/env/btc-trend.env",
        FREQTRADE__EXCHANGE__KEY="k" * 24,
        FREQTRADE__EXCHANGE__SECRET="s" * 36,
        FREQTRADE__EXCHANGE__PASSWORD="p" * 12,
    )
    (msg,) = _messages(project)
    assert "bot btc-trend" in msg and "CTX_LIVE_TRADING=I_UNDERSTAND" in msg


def test_live_with_opt_in_but_no_key_is_refused_without_leaking(project: Path) -> None:
    edit_fleet(project, lambda d: d["bots"][0].__setitem__("dry_run", False))
    write_env(
        project / "docker/env/btc-trend.env",
        CTX_LIVE_TRADING="I_UNDERSTAND",
        FREQTRADE__EXCHANGE__KEY="secret-value-123",
    )
    (msg,) = _messages(project)
    assert "FREQTRADE__EXCHANGE__SECRET" in msg
    assert "FREQTRADE__EXCHANGE__KEY," not in msg
    assert "secret-value-123" not in msg


def test_live_with_opt_in_and_key_passes(project: Path) -> None:
    edit_fleet(project, lambda d: d["bots"][0].__setitem__("dry_run", False))
    write_env(
        project / "docker/env/btc-trend.env",
        CTX_LIVE_TRADING="I_UNDERSTAND",
        FREQTRADE__EXCHANGE__KEY="k" * 24,
        FREQTRADE__EXCHANGE__SECRET="s" * 36,
        FREQTRADE__EXCHANGE__PASSWORD="p" * 12,
    )
    assert _messages(project) == []


def test_malformed_env_line_reports_only_the_line_number(project: Path) -> None:
    (project / "docker/env/alt-swing.env").write_text("this is hunter2\n", encoding="utf-8")
    (msg,) = _messages(project)
    assert "alt-swing.env:1" in msg and "hunter2" not in msg


def test_missing_base_config_is_an_error(project: Path) -> None:
    (project / "user_data/config.kucoin.example.json").unlink()
    (msg,) = _messages(project)
    assert "base Freqtrade config" in msg
