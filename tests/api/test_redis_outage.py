"""Redis down: /readyz says so, and requests get a clear 503 instead of a crash."""

from __future__ import annotations

import time

import redis
from fastapi.testclient import TestClient
from verdicts.support import make_request, make_settings

from context_service.api import create_app
from context_service.keys import Keyspace
from context_service.service import ContextService


def test_readyz_and_verdicts_report_a_redis_outage(redis_server) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=1)
    service = ContextService(make_settings(llm_enabled=False), client, Keyspace(prefix="outage"))
    with TestClient(
        create_app(service=service), raise_server_exceptions=False, base_url="http://127.0.0.1"
    ) as api:
        assert api.get("/readyz").status_code == 200
        assert (
            api.post("/v1/verdicts", json=make_request().model_dump(mode="json")).status_code == 200
        )

        redis_server.kill()
        ready = api.get("/readyz")
        verdict = api.post("/v1/verdicts", json=make_request(1).model_dump(mode="json"))

    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert verdict.status_code == 503
    assert verdict.json()["message"].startswith("Redis unavailable")
    assert verdict.headers["retry-after"] == "5"


def test_a_redis_outage_trips_the_health_flag_and_recovery_clears_it(redis_server) -> None:
    settings = make_settings(llm_enabled=False, redis_url=redis_server.url)
    from context_service.memory import connect

    client = connect(settings)
    service = ContextService(settings, client, Keyspace(prefix="outage"))
    with TestClient(
        create_app(service=service), raise_server_exceptions=False, base_url="http://127.0.0.1"
    ) as api:
        assert (
            api.post("/v1/verdicts", json=make_request().model_dump(mode="json")).status_code == 200
        )
        health = api.app.state.redis_health  # type: ignore[attr-defined]

        redis_server.kill()
        first = api.post("/v1/verdicts", json=make_request(1).model_dump(mode="json"))
        assert first.status_code == 503 and health.down and health.trips == 1
        # While down, requests are refused before any route (no body read, no Redis call).
        health._next_probe = time.monotonic() + 3600  # no probe during this part of the test
        sent: list[object] = []
        execute = client.execute_command
        client.execute_command = lambda *a, **k: (sent.append(a[0]), execute(*a, **k))[1]  # type: ignore[method-assign]
        gated = [api.get("/v1/bots/bot-1/stats") for _ in range(20)]
        assert {r.status_code for r in gated} == {503}
        assert all("failing fast" in r.json()["message"] for r in gated)
        assert sent == []
        assert api.get("/healthz").status_code == 200  # the process itself is fine

        redis_server.start()
        health._next_probe = 0.0  # the probe interval has passed: the next request probes
        recovered = api.post("/v1/verdicts", json=make_request(2).model_dump(mode="json"))
        assert recovered.status_code == 200 and not health.down
