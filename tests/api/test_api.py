"""The HTTP API: bearer auth, clear 422s, 413, nothing half-written, and the main flows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import respx
from fastapi.testclient import TestClient
from verdicts.support import CHAT_URL, NOW, T0, make_request, ok_response

from context_service.api import create_app

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def service(make_service):
    return make_service(api_token=TOKEN, max_body_bytes=20_000)


@pytest.fixture
def client(service) -> Iterator[TestClient]:
    with TestClient(create_app(service=service)) as test_client:
        yield test_client


def news(i: int, **overrides) -> dict:
    item = {
        "id": f"news-{i}",
        "summary": f"Exchange lists token {i}",
        "tags": {"category": "news"},
        "provenance": {"source": "feed"},
        "observed_at": (T0 - timedelta(hours=1)).isoformat(),
        "severity": "high",
        "confidence": "high",
    }
    item.update(overrides)
    return item


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/evidence"),
        ("post", "/v1/context"),
        ("post", "/v1/verdicts"),
        ("post", "/v1/trades/events"),
        ("get", "/v1/bots/bot-1/stats"),
        ("get", "/v1/bots/bot-1/audit"),
        ("get", "/v1/llm/usage"),
        ("get", "/v1/alerts"),
        ("get", "/v1/feeds"),
    ],
)
def test_every_v1_route_needs_the_token(client: TestClient, method: str, path: str) -> None:
    missing = getattr(client, method)(path)
    wrong = getattr(client, method)(path, headers={"Authorization": "Bearer nope"})
    basic = getattr(client, method)(path, headers={"Authorization": f"Basic {TOKEN}"})
    assert (missing.status_code, wrong.status_code, basic.status_code) == (401, 401, 401)
    assert missing.json()["detail"] == "missing bearer token"
    assert missing.headers["www-authenticate"] == "Bearer"


def test_health_and_ready_are_open_metrics_and_docs_need_loopback_or_the_token(
    client: TestClient, service
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["redis"] == "ok"
    # A remote client (TestClient's default address) needs the operator token.
    assert client.get("/metrics").status_code == 401
    assert client.get("/openapi.json").status_code == 401
    metrics = client.get("/metrics", headers=AUTH)
    assert metrics.status_code == 200 and "ctx_http_requests_total" in metrics.text
    assert "/v1/verdicts" in client.get("/openapi.json", headers=AUTH).json()["paths"]
    with TestClient(create_app(service=service), client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200
        assert local.get("/docs").status_code == 200


def test_evidence_batch_with_one_bad_object_writes_nothing(client: TestClient, service) -> None:
    batch = [news(1), news(2, summary="   "), news(3)]
    response = client.post("/v1/evidence", json={"bot_id": "bot-1", "objects": batch}, headers=AUTH)

    assert response.status_code == 422
    body = response.json()
    assert body["message"].startswith("1 of 3 objects are invalid; nothing was written")
    assert "objects[1] (id 'news-2')" in body["message"] and "summary" in body["message"]
    assert body["detail"][0]["index"] == 1
    assert service.engine("bot-1").get("news-1") is None
    assert len(list(service.components.memory.bot("bot-1").evidence.all())) == 0


def test_evidence_then_context_then_verdict(client: TestClient) -> None:
    stored = client.post(
        "/v1/evidence", json={"bot_id": "bot-1", "objects": [news(1), news(2)]}, headers=AUTH
    )
    assert stored.status_code == 200 and stored.json()["ids"] == ["news-1", "news-2"]

    context = client.post(
        "/v1/context", json={"bot_id": "bot-1", "budget_tokens": 400}, headers=AUTH
    ).json()
    assert "[news-1]" in context["text"] and context["manifest"]["budget"] == 400
    early = client.post(
        "/v1/context",
        json={"bot_id": "bot-1", "as_of": (T0 - timedelta(days=1)).isoformat()},
        headers=AUTH,
    ).json()
    assert "news-1" not in early["text"]  # not yet observed then

    verdict = client.post("/v1/verdicts", json=make_request().model_dump(mode="json"), headers=AUTH)
    assert verdict.status_code == 200
    assert verdict.json()["source"] in ("rules", "llm", "replay")
    recent = client.get("/v1/bots/bot-1/verdicts", headers=AUTH).json()
    assert recent[0]["verdict_id"] == verdict.json()["verdict_id"]
    audit = client.get("/v1/bots/bot-1/audit", params={"kind": "verdict"}, headers=AUTH).json()
    assert audit[-1]["payload"]["verdict"]["verdict_id"] == verdict.json()["verdict_id"]


def test_verdict_request_validation_names_the_field(client: TestClient) -> None:
    body = make_request().model_dump(mode="json")
    body["snapshot"]["rsi"] = 140
    body["candle_time"] = "2022-03-01T00:00:00"  # naive
    response = client.post("/v1/verdicts", json=body, headers=AUTH)
    assert response.status_code == 422
    message = response.json()["message"]
    assert "body.snapshot.rsi" in message and "100" in message
    assert "body.candle_time" in message


def test_bad_bot_id_in_path_is_a_clear_422(client: TestClient) -> None:
    response = client.get("/v1/bots/BOT_1/stats", headers=AUTH)
    assert response.status_code == 422 and "invalid bot id" in response.json()["message"]


def test_oversized_body_is_413_and_nothing_is_written(client: TestClient, service) -> None:
    batch = [news(i, detail="x" * 1000) for i in range(40)]  # ~50 kB > 20 kB limit
    response = client.post("/v1/evidence", json={"bot_id": "bot-1", "objects": batch}, headers=AUTH)
    assert response.status_code == 413 and "larger than 20000 bytes" in response.json()["detail"]
    assert len(list(service.components.memory.bot("bot-1").evidence.all())) == 0


def test_oversized_chunked_body_without_length_is_413(client: TestClient) -> None:
    def chunks():
        for _ in range(30):
            yield b"x" * 1000

    response = client.post(
        "/v1/evidence", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_trade_events_are_idempotent_and_feed_stats(client: TestClient) -> None:
    event = {
        "bot_id": "bot-1",
        "trade_id": 7,
        "order_id": "close",
        "event": "trade_closed",
        "pair": "BTC/USDT",
        "side": "sell",
        "time": T0.isoformat(),
        "price": 110.0,
        "amount": 1.0,
        "stake": 100.0,
        "fee_quote": 0.2,
        "realized_profit": 9.8,
        "open_time": (T0 - timedelta(hours=5)).isoformat(),
        "close_time": T0.isoformat(),
        "exit_reason": "roi",
    }
    first = client.post("/v1/trades/events", json=event, headers=AUTH).json()
    second = client.post("/v1/trades/events", json=event, headers=AUTH).json()
    assert first == {"stored": True, "duplicate": False}
    assert second == {"stored": False, "duplicate": True}
    stats = client.get("/v1/bots/bot-1/stats", headers=AUTH).json()
    assert (stats["trades"], stats["wins"]) == (1, 1)
    assert stats["net_pnl"] == pytest.approx(9.8)
    bad = client.post("/v1/trades/events", json={**event, "side": "short"}, headers=AUTH)
    assert bad.status_code == 422 and "body.side" in bad.json()["message"]


def test_llm_usage_reports_spend_calls_fallbacks_and_latency(
    make_service, llm_mock: respx.MockRouter
) -> None:
    llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service(api_token=TOKEN)
    with TestClient(create_app(service=service)) as client:
        client.post("/v1/verdicts", json=make_request(0).model_dump(mode="json"), headers=AUTH)
        client.post("/v1/verdicts", json=make_request(0).model_dump(mode="json"), headers=AUTH)
        llm_mock.post(CHAT_URL).mock(return_value=ok_response(confidence=3))  # invalid
        client.post("/v1/verdicts", json=make_request(1).model_dump(mode="json"), headers=AUTH)
        usage = client.get("/v1/llm/usage", headers=AUTH).json()
        metrics = client.get("/metrics", headers=AUTH).text

    day = usage["global"]["day"]
    assert usage["day"] == NOW.strftime("%Y-%m-%d") and usage["month"] == "2022-03"
    assert day["calls"] == 2 and day["failed_calls"] == 1
    assert day["prompt_tokens"] == 1800 and day["completion_tokens"] == 80
    assert day["cost_usd"] == pytest.approx(2 * (900 * 0.4 + 40 * 1.6) / 1e6)
    assert day["verdicts_by_source"] == {"llm": 1, "replay": 1, "rules": 1}
    assert day["fallbacks_by_reason"] == {"invalid_tool_call": 1}
    assert day["latency"]["samples"] == 2 and day["latency"]["p99_ms"] > 0
    assert usage["bots"]["bot-1"]["month"]["calls"] == 2
    assert usage["bots"]["bot-1"]["cap"]["cap_usd"] == 0.5
    assert usage["caps"]["monthly"]["spent_usd"] == pytest.approx(day["cost_usd"], abs=1e-6)
    assert 'ctx_verdicts_total{action="buy",source="llm"} 1.0' in metrics
    assert 'ctx_verdict_fallbacks_total{provider="llm",reason="invalid_tool_call"} 1.0' in metrics


def test_no_token_configured_means_open_api_for_loopback_hosts_only(make_service) -> None:
    app = create_app(service=make_service(llm=False))
    with TestClient(app, base_url="http://127.0.0.1:8787") as client:
        assert client.get("/v1/alerts").status_code == 200
        assert client.get("/v1/alerts", headers={"Host": "localhost:8787"}).status_code == 200
        # DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own Host.
        rebound = client.get("/v1/alerts", headers={"Host": "evil.example:8787"})
        assert rebound.status_code == 403 and "evil.example" in rebound.json()["detail"]
        assert client.get("/v1/alerts").status_code == 200


@pytest.mark.parametrize(
    ("entries", "expected"),
    [("included", {"news-1", "news-2"}), ("all", {"news-1", "news-2", "news-3"}), ("none", None)],
)
def test_context_manifest_entries_are_selectable(client: TestClient, entries, expected) -> None:
    late = news(3, observed_at=(T0 + timedelta(days=1)).isoformat())  # not yet observed at T0
    client.post(
        "/v1/evidence", json={"bot_id": "bot-1", "objects": [news(1), news(2), late]}, headers=AUTH
    )
    body = {"bot_id": "bot-1", "as_of": T0.isoformat(), "manifest_entries": entries}
    manifest = client.post("/v1/context", json=body, headers=AUTH).json()["manifest"]
    if expected is None:
        assert "entries" not in manifest and manifest["lanes"]
    else:
        assert {e["id"] for e in manifest["entries"]} == expected
