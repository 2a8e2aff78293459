"""One FreqUI lists every bot: each bot's API allows the other bots' FreqUI origins.

The check runs Freqtrade's own API app (``ApiServer.configure_app``, whose CORS middleware reads
``api_server.CORS_origins``) on each rendered config and sends the browser's preflight.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from freqtrade.rpc.api_server.webserver import ApiServer

from context_service.fleet.compose import frequi_origins, write_fleet
from context_service.fleet.model import load_fleet


def freqtrade_api(config: dict) -> TestClient:
    app = FastAPI()
    server = object.__new__(ApiServer)  # the app only: no uvicorn thread, no singleton
    ApiServer.configure_app(server, app, config)
    return TestClient(app)


def preflight(client: TestClient, origin: str):
    return client.options(
        "/api/v1/ping",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


@pytest.fixture
def configs(project: Path) -> dict[str, dict]:
    fleet = load_fleet(project / "bots.yaml")
    rendered = write_fleet(fleet, project / "bots.yaml", project)
    return {bot_id: json.loads(path.read_text()) for bot_id, path in rendered.bot_configs.items()}


def test_every_bot_allows_every_frequi_origin(project: Path, configs: dict[str, dict]) -> None:
    fleet = load_fleet(project / "bots.yaml")
    expected = frequi_origins(fleet.bots)
    assert len(expected) == 2 * len(fleet.bots)
    for config in configs.values():
        assert config["api_server"]["CORS_origins"] == expected
    ports = {bot.id: bot.api_port for bot in fleet.bots}
    assert (
        f"http://127.0.0.1:{ports['alt-swing']}"
        in configs["btc-trend"]["api_server"]["CORS_origins"]
    )


def test_freqtrade_answers_the_other_bots_frequi_and_nobody_else(
    project: Path, configs: dict[str, dict]
) -> None:
    fleet = load_fleet(project / "bots.yaml")
    other = fleet.bot("alt-swing")
    client = freqtrade_api(configs["btc-trend"])
    allowed = preflight(client, f"http://localhost:{other.api_port}")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == f"http://localhost:{other.api_port}"
    refused = preflight(client, "http://evil.example:8081")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert preflight(client, "http://127.0.0.1:8081\n").status_code == 400
    # and the next good preflight still works
    assert preflight(client, f"http://127.0.0.1:{other.api_port}").status_code == 200
