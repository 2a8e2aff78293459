"""Redis down: /readyz says so, and requests get a clear 503 instead of a crash."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient
from verdicts.support import make_request, make_settings

from context_service.api import create_app
from context_service.keys import Keyspace
from context_service.service import ContextService


def test_readyz_and_verdicts_report_a_redis_outage(redis_server) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=1)
    service = ContextService(make_settings(llm_enabled=False), client, Keyspace(prefix="outage"))
    with TestClient(create_app(service=service), raise_server_exceptions=False) as api:
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
