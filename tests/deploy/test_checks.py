"""`fleet check` / `fleet up` say clearly what is missing before anything starts."""

from __future__ import annotations

from pathlib import Path

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
    write_env(project / "docker/env/fleet.env", CTX_API_TOKEN="change-me")
    (msg,) = _messages(project)
    assert "CTX_API_TOKEN" in msg and "FREQTRADE__API_SERVER__PASSWORD" in msg


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


def test_short_sidecar_token_is_refused_before_start(project: Path) -> None:
    write_env(
        project / "docker/env/fleet.env",
        CTX_API_TOKEN="short-token",
        FREQTRADE__API_SERVER__USERNAME="operator",
        FREQTRADE__API_SERVER__PASSWORD="pw-" + "b" * 20,
        FREQTRADE__API_SERVER__JWT_SECRET_KEY="jwt-" + "c" * 40,
    )
    (msg,) = _messages(project)
    assert "CTX_API_TOKEN" in msg and "16+ characters" in msg and "short-token" not in msg
