"""Credentials per bot: a bot's token reaches only its own bot id (403 otherwise), the operator
token reaches fleet-wide routes, authentication happens before the body is read, tokens rotate
without a restart, and weak tokens are refused."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from verdicts.support import T0, make_request

from context_service import credentials as tokens_module
from context_service.api import create_app
from context_service.client.http import HttpContextClient
from context_service.client.token import FileTokenAuth
from context_service.credentials import token_hash, token_weakness

OPERATOR = secrets.token_urlsafe(32)
TOKEN_A = secrets.token_urlsafe(32)
TOKEN_B = secrets.token_urlsafe(32)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def service(make_service):
    return make_service(
        llm=False,
        verdict_provider="rules",
        api_token=OPERATOR,
        bot_token_hashes={"bot-a": token_hash(TOKEN_A), "bot-b": [token_hash(TOKEN_B)]},
    )


@pytest.fixture
def client(service) -> Iterator[TestClient]:
    with TestClient(create_app(service=service)) as test_client:
        yield test_client


def closed_trade(bot_id: str) -> dict:
    return {
        "bot_id": bot_id,
        "trade_id": 1,
        "order_id": "close",
        "event": "trade_closed",
        "pair": "BTC/USDT",
        "side": "sell",
        "time": T0.isoformat(),
        "open_time": T0.isoformat(),
        "price": 1.0,
        "amount": 1.0,
        "realized_profit": 0.1,
    }


def bot_routes(bot_id: str) -> list[tuple[str, str, dict | None]]:
    verdict = make_request(bot_id=bot_id).model_dump(mode="json")
    evidence = {
        "bot_id": bot_id,
        "objects": [{"id": "n1", "summary": "planted", "provenance": {"source": "x"}}],
    }
    return [
        ("post", "/v1/verdicts", verdict),
        ("post", "/v1/evidence", evidence),
        ("post", "/v1/context", {"bot_id": bot_id}),
        ("post", "/v1/trades/events", closed_trade(bot_id)),
        ("get", f"/v1/bots/{bot_id}/audit", None),
        ("get", f"/v1/bots/{bot_id}/stats", None),
        ("get", f"/v1/bots/{bot_id}/verdicts", None),
        ("get", f"/v1/bots/{bot_id}/adjustments", None),
        ("get", f"/v1/llm/usage?bot_id={bot_id}", None),
        ("post", f"/v1/leases/acct-{bot_id}", {"holder": bot_id}),
    ]


def call(client: TestClient, method: str, path: str, body: dict | None, token: str):
    if body is None:
        return client.request(method, path, headers=bearer(token))
    return client.request(method, path, json=body, headers=bearer(token))


def test_a_bot_token_reaches_only_its_own_bot(client: TestClient, service) -> None:
    for method, path, body in bot_routes("bot-b"):
        refused = call(client, method, path, body, TOKEN_A)
        assert refused.status_code == 403, (path, refused.text)
        assert "bot-a" in refused.json()["detail"]
    assert service.components.memory.bot("bot-b").evidence.get("n1") is None  # nothing planted
    assert not service.components.redis.exists(
        service.components.keyspace.bot("bot-b").closed_trades
    )
    for method, path, body in bot_routes("bot-a"):
        assert call(client, method, path, body, TOKEN_A).status_code == 200, path
    for method, path, body in bot_routes("bot-b"):
        assert call(client, method, path, body, TOKEN_B).status_code == 200, path


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/alerts", None),
        ("get", "/v1/llm/usage", None),
        ("get", "/v1/dashboard/state", None),
        ("get", "/v1/feeds", None),
        ("post", "/v1/llm/caps/reopen", {}),
        ("get", "/metrics", None),
        ("get", "/openapi.json", None),
    ],
)
def test_fleet_wide_routes_need_the_operator_token(
    client: TestClient, method: str, path: str, body: dict | None
) -> None:
    assert call(client, method, path, body, TOKEN_A).status_code == 403
    assert call(client, method, path, body, "not-a-token").status_code == 401
    assert call(client, method, path, body, OPERATOR).status_code == 200


def test_the_operator_acts_for_every_known_bot_and_unknown_ids_get_no_state(
    client: TestClient, service
) -> None:
    for bot_id in ("bot-a", "bot-b"):
        for method, path, body in bot_routes(bot_id):
            assert call(client, method, path, body, OPERATOR).status_code == 200, path
    for method, path, body in bot_routes("bot-c")[:-2]:  # usage and leases: not per-bot state
        refused = call(client, method, path, body, OPERATOR)
        assert refused.status_code == 404 and "unknown bot" in refused.text, path
    assert "bot-c" not in service.components.memory.bot_ids()


def test_authentication_happens_before_the_body_is_read(service) -> None:
    app = create_app(service=service)
    reads: list[int] = []
    sent: list[dict] = []

    async def receive() -> dict:
        reads.append(1)
        return {"type": "http.request", "body": b"{" * 900_000, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/verdicts",
        "raw_path": b"/v1/verdicts",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"sidecar"), (b"content-length", b"900000")],
        "client": ("10.0.0.9", 5000),
        "server": ("10.0.0.1", 8787),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401 and reads == []


def test_tokens_rotate_through_the_tokens_file_without_a_restart(
    make_service, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(tokens_module, "RELOAD_CHECK_S", 0.0)
    tokens_file = tmp_path / "bot-tokens.json"
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tokens_file.write_text(json.dumps({"bot-a": token_hash(old)}))
    token_file = tmp_path / "bot-a.token"
    token_file.write_text(old + "\n")
    service = make_service(
        llm=False, verdict_provider="rules", api_token=OPERATOR, bot_tokens_file=tokens_file
    )
    with TestClient(create_app(service=service)) as api:

        def through_app(request: httpx.Request) -> httpx.Response:
            answer = api.request(
                request.method, request.url.path, content=request.content, headers=request.headers
            )
            return httpx.Response(answer.status_code, content=answer.content)

        bot = HttpContextClient(
            "http://testserver",
            token=FileTokenAuth(token_file),
            transport=httpx.MockTransport(through_app),
        )
        assert bot.decide(make_request(bot_id="bot-a")).source == "rules"
        # 1. the sidecar accepts both; 2. the bot's token file gets the new one; 3. old dropped
        tokens_file.write_text(json.dumps({"bot-a": [token_hash(old), token_hash(new)]}))
        _touch_later(tokens_file)
        token_file.write_text(new + "\n")
        _touch_later(token_file)
        assert bot.decide(make_request(1, bot_id="bot-a")).source == "rules"
        tokens_file.write_text(json.dumps({"bot-a": token_hash(new)}))
        _touch_later(tokens_file)
        assert bot.decide(make_request(2, bot_id="bot-a")).source == "rules"
        assert api.get("/v1/bots/bot-a/stats", headers=bearer(old)).status_code == 401
        assert api.get("/v1/bots/bot-a/stats", headers=bearer(new)).status_code == 200


def _touch_later(path) -> None:
    """Move the file's mtime forward: rewrites within one clock tick look unchanged."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


def test_a_bad_tokens_file_keeps_the_last_good_one(make_service, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tokens_module, "RELOAD_CHECK_S", 0.0)
    tokens_file = tmp_path / "bot-tokens.json"
    tokens_file.write_text(json.dumps({"bot-a": token_hash(TOKEN_A)}))
    service = make_service(llm=False, api_token=OPERATOR, bot_tokens_file=tokens_file)
    with TestClient(create_app(service=service)) as api:
        tokens_file.write_text('{"bot-a": "not-a-hash"')
        _touch_later(tokens_file)
        assert api.get("/v1/bots/bot-a/stats", headers=bearer(TOKEN_A)).status_code == 200


@pytest.mark.parametrize(
    ("token", "weak"),
    [
        ("a" * 40, True),
        ("0123456789abcdef", True),
        ("passwordpasswordpassword", True),
        (secrets.token_urlsafe(32), False),
        (secrets.token_hex(16), False),
    ],
)
def test_weak_tokens_are_named(token: str, weak: bool) -> None:
    assert (token_weakness(token) is not None) is weak


def test_usage_of_a_bot_with_its_token(client: TestClient) -> None:
    usage = client.get("/v1/llm/usage", params={"bot_id": "bot-a"}, headers=bearer(TOKEN_A))
    assert usage.status_code == 200 and "bot-a" in usage.json()["bots"]


def test_a_bot_holds_only_its_own_sub_accounts_lease(make_service, tmp_path) -> None:
    from pathlib import Path

    fleet_file = tmp_path / "bots.yaml"
    fleet_file.write_text(
        (Path(__file__).resolve().parents[2] / "bots.example.yaml").read_text(encoding="utf-8")
    )
    token = secrets.token_urlsafe(32)
    service = make_service(
        llm=False,
        api_token=OPERATOR,
        fleet_file=fleet_file,
        bot_token_hashes={"btc-trend": token_hash(token)},
    )
    with TestClient(create_app(service=service)) as api:
        other = api.post("/v1/leases/ctxalt01", json={"holder": "btc-trend"}, headers=bearer(token))
        assert other.status_code == 403 and "ctxalt01" in other.json()["detail"]
        own = api.post("/v1/leases/ctxbtc01", json={"holder": "btc-trend"}, headers=bearer(token))
        assert own.status_code == 200
        # The fleet file's other bots are known (the operator may act for them); strangers not.
        assert api.get("/v1/bots/alt-swing/stats", headers=bearer(OPERATOR)).status_code == 200
        assert api.get("/v1/bots/stranger/stats", headers=bearer(OPERATOR)).status_code == 404
        released = api.delete(
            "/v1/leases/ctxbtc01", params={"holder": "btc-trend"}, headers=bearer(token)
        )
        assert released.json()["released"] is True
