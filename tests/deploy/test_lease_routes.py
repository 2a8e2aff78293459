"""The lease over HTTP, as the strategy calls it: 200 when held, 409 naming the other holder."""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from context_service.api.app import create_app
from context_service.keys import Keyspace
from context_service.service import ContextService
from context_service.settings import Settings

TOKEN = "test-token-123"


@pytest.fixture
def client(redis_client: redis.Redis, keyspace: Keyspace, tmp_path) -> TestClient:
    settings = Settings(api_token=SecretStr(TOKEN), journal_dir=tmp_path / "journal")
    service = ContextService(settings, redis_client, keyspace)
    with TestClient(
        create_app(service=service), headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


def test_acquire_conflict_release_cycle(client: TestClient) -> None:
    first = client.post("/v1/leases/subacc1", json={"holder": "bot-a", "ttl_s": 90})
    assert first.status_code == 200
    assert first.json()["held"] is True and first.json()["holder"] == "bot-a"
    assert first.json()["expires_at"]

    second = client.post("/v1/leases/subacc1", json={"holder": "bot-b", "ttl_s": 90})
    assert second.status_code == 409
    assert second.json() == {**second.json(), "held": False, "holder": "bot-a"}

    shown = client.get("/v1/leases/subacc1").json()
    assert shown["holder"] == "bot-a" and shown["held"] is True

    assert (
        client.delete("/v1/leases/subacc1", params={"holder": "bot-b"}).json()["released"] is False
    )
    assert (
        client.delete("/v1/leases/subacc1", params={"holder": "bot-a"}).json()["released"] is True
    )
    again = client.post("/v1/leases/subacc1", json={"holder": "bot-b", "ttl_s": 90})
    assert again.status_code == 200


def test_requires_the_sidecar_token(client: TestClient) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": ""}):
        response = client.post("/v1/leases/subacc1", json={"holder": "bot-a"}, headers=headers)
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("account", "body"),
    [
        ("subacc1", {"holder": "Bot A"}),
        ("subacc1", {"holder": "bot-a", "ttl_s": 0}),
        ("subacc1", {"holder": "bot-a", "extra": 1}),
        ("bad acc", {"holder": "bot-a"}),
    ],
)
def test_bad_requests_get_422_and_write_nothing(
    client: TestClient, redis_client: redis.Redis, keyspace: Keyspace, account: str, body: dict
) -> None:
    response = client.post(f"/v1/leases/{account}", json=body)
    assert response.status_code == 422
    assert list(redis_client.scan_iter(match=keyspace.pattern)) == []
