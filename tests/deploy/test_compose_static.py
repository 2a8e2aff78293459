"""The rendered compose file, checked statically (no Docker engine here) and by compose itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from context_service.fleet.compose import write_fleet
from context_service.fleet.model import load_fleet
from context_service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SECRET_WORDS = ("KEY", "SECRET", "PASSWORD", "TOKEN", "WEBHOOK")


@pytest.fixture
def rendered(project: Path) -> tuple[Path, dict]:
    fleet = load_fleet(project / "bots.yaml")
    out = write_fleet(fleet, project / "bots.yaml", project)
    return out.compose_file, yaml.safe_load(out.compose_file.read_text(encoding="utf-8"))


def _bots(doc: dict) -> dict[str, dict]:
    return {name: svc for name, svc in doc["services"].items() if name.startswith("bot-")}


def test_one_service_per_bot_plus_redis_and_sidecar(rendered) -> None:
    _, doc = rendered
    default = {n for n, svc in doc["services"].items() if not svc.get("profiles")}
    assert default == {"redis", "sidecar", "bot-btc-trend", "bot-alt-swing"}


def test_redis_has_aof_volume_healthcheck_and_no_published_port(rendered) -> None:
    _, doc = rendered
    redis = doc["services"]["redis"]
    assert "ports" not in redis and "expose" not in redis
    assert redis["networks"] == ["backend"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in redis["volumes"] and "redis-data" in doc["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_backend_network_is_internal(rendered) -> None:
    _, doc = rendered
    assert doc["networks"]["backend"] == {"internal": True}


def test_sidecar_waits_for_healthy_redis_and_only_publishes_on_loopback(rendered) -> None:
    _, doc = rendered
    sidecar = doc["services"]["sidecar"]
    assert sidecar["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert "/healthz" in " ".join(sidecar["healthcheck"]["test"])
    assert sidecar["ports"] == ["127.0.0.1:8787:8787"]
    assert "backend" in sidecar["networks"]
    assert sidecar["environment"]["CTX_REDIS_URL"] == "redis://redis:6379/0"
    # read-only root file system; the journal (trade events while Redis is down) on a volume
    assert sidecar["read_only"] is True
    assert "sidecar-data:/app/data" in sidecar["volumes"]
    assert sidecar["environment"]["CTX_JOURNAL_DIR"].startswith("/app/data/")


def test_sidecar_without_egress_is_internal_only(project: Path) -> None:
    from deploy.fleet_helpers import edit_fleet

    edit_fleet(project, lambda d: d["sidecar"].__setitem__("egress", False))
    out = write_fleet(load_fleet(project / "bots.yaml"), project / "bots.yaml", project)
    sidecar = yaml.safe_load(out.compose_file.read_text())["services"]["sidecar"]
    assert sidecar["networks"] == ["backend"] and "ports" not in sidecar


def test_bots_are_isolated_each_with_own_env_port_db_logs_and_namespace(rendered) -> None:
    _, doc = rendered
    seen_ports, seen_ids = set(), set()
    for name, bot in _bots(doc).items():
        bot_id = name.removeprefix("bot-")
        assert bot["env_file"][-1] == f"./docker/env/{bot_id}.env"
        assert bot["environment"]["CTX_BOT_ID"] == bot_id
        (port,) = bot["ports"]
        assert port.startswith("127.0.0.1:") and port.endswith(":8080")
        assert f"./user_data/db/{bot_id}:/freqtrade/user_data/db" in bot["volumes"]
        assert f"./user_data/logs/{bot_id}:/freqtrade/user_data/logs" in bot["volumes"]
        assert "--logfile" in bot["command"] and "--db-url" in bot["command"]
        assert bot["depends_on"] == {"sidecar": {"condition": "service_healthy"}}
        seen_ports.add(port)
        seen_ids.add(bot["environment"]["CTX_BOT_ID"])
    assert len(seen_ports) == len(seen_ids) == 2


def test_every_service_restarts_and_has_limits_and_healthcheck(rendered) -> None:
    _, doc = rendered
    for name, svc in doc["services"].items():
        assert svc["restart"] == "unless-stopped", name
        assert svc["cpus"] > 0 and svc["mem_limit"], name
        assert svc["healthcheck"]["test"][0] == "CMD", name
        assert "no-new-privileges:true" in svc["security_opt"], name


def test_no_secret_values_in_compose_or_bot_configs(rendered, project: Path) -> None:
    path, doc = rendered
    text = path.read_text(encoding="utf-8")
    for env_file in (project / "docker/env").glob("*.env"):
        for line in env_file.read_text().splitlines():
            value = line.partition("=")[2]
            if len(value) >= 8:
                assert value not in text, f"a value of {env_file.name} leaked into compose"
    for svc in doc["services"].values():
        for key in svc.get("environment", {}):
            assert not set(key.upper().split("_")) & set(SECRET_WORDS), key
    for config in (project / "docker/generated").glob("*.config.json"):
        data = json.loads(config.read_text())
        assert "key" not in data["exchange"] and "secret" not in data["exchange"]
        assert "password" not in data["api_server"]


def test_bot_config_layers_the_fleet_values(project: Path, rendered) -> None:
    data = json.loads((project / "docker/generated/alt-swing.config.json").read_text())
    assert data["exchange"]["pair_whitelist"] == ["XRP/USDT", "DOGE/USDT"]
    assert data["timeframe"] == "4h" and data["dry_run"] is True
    assert data["available_capital"] == data["dry_run_wallet"] == 50
    assert data["api_server"]["listen_port"] == 8080
    assert data["context"] == {"bot_id": "alt-swing", "account": "ctxalt01", "max_daily_loss": 2.5}


def test_the_strategy_accepts_the_rendered_context_section(project: Path) -> None:
    from context_service.client.factory import read_options
    from context_service.fleet.compose import bot_config

    fleet = load_fleet(project / "bots.yaml")
    options = read_options(bot_config(fleet.bot("btc-trend")))
    assert options.bot_id == "btc-trend" and options.account == "ctxbtc01"
    assert options.max_daily_loss == 2.5


def test_committed_example_matches_the_generator(tmp_path: Path) -> None:
    """docker/compose.example.yaml is what `fleet render` makes of bots.example.yaml."""
    root = tmp_path / "r"
    root.mkdir()
    shutil.copy(REPO / "bots.example.yaml", root / "bots.example.yaml")
    out = write_fleet(load_fleet(root / "bots.example.yaml"), root / "bots.example.yaml", root)
    expected = (REPO / "docker/compose.example.yaml").read_text(encoding="utf-8")
    assert out.compose_file.read_text(encoding="utf-8") == expected, (
        "regenerate: python -m context_service fleet --fleet bots.example.yaml render && "
        "cp docker/generated/compose.yaml docker/compose.example.yaml"
    )


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_itself_accepts_the_rendered_file(rendered, project: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed (CI: apt docker-compose)"
        )
    path, _ = rendered
    result = subprocess.run(
        [*cli, "--project-directory", str(project), "--file", str(path), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    normalized = subprocess.run(
        [*cli, "--project-directory", str(project), "--file", str(path), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    services = yaml.safe_load(normalized.stdout)["services"]
    assert {"redis", "sidecar", "bot-btc-trend", "bot-alt-swing"} <= set(services)
    optional = {n for n, svc in services.items() if "observability" in svc.get("profiles", [])}
    assert optional == {"prometheus", "grafana"}


def test_per_bot_llm_caps_reach_the_sidecar(rendered, monkeypatch) -> None:
    _, doc = rendered
    env = doc["services"]["sidecar"]["environment"]
    monkeypatch.setenv("CTX_CAP_BOT_DAILY_USD_BY_BOT", env["CTX_CAP_BOT_DAILY_USD_BY_BOT"])
    monkeypatch.setenv("CTX_CAP_BOT_DAILY_USD", env["CTX_CAP_BOT_DAILY_USD"])
    settings = Settings(_env_file=None)
    assert settings.bot_daily_cap("btc-trend") == Decimal("0.3")  # its own line in bots.yaml
    assert settings.bot_daily_cap("alt-swing") == Decimal("0.50")  # the fleet-wide default
