"""/metrics: runtime collectors and the state gauges the alert rules and dashboard rely on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from verdicts.support import NOW, T0

from context_service.api import create_app
from context_service.llm.pricing import usd_to_micros

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def service(make_service):
    return make_service(api_token=TOKEN, cap_global_daily_usd=2.0, cap_bot_daily_usd=0.5)


@pytest.fixture
def client(service) -> Iterator[TestClient]:
    with TestClient(create_app(service=service), client=("127.0.0.1", 40000)) as test_client:
        yield test_client


def test_process_and_gc_collectors_are_exported(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert value(text, "process_resident_memory_bytes") > 0
    assert any(name == "python_gc_objects_collected_total" for name, _ in samples(text))
    assert value(text, "ctx_redis_up") == 1.0


def test_cap_headroom_per_cap_and_bot(client: TestClient, service) -> None:
    service.components.redis.sadd(service.components.keyspace.bots, "bot-1")
    reservation = service.components.ledger.reserve("bot-1", usd_to_micros(0.3), NOW)
    service.components.ledger.settle(reservation, usd_to_micros(0.42))
    text = client.get("/metrics").text
    assert value(text, "ctx_llm_cap_usd", cap="bot-daily", bot_id="bot-1") == 0.5
    assert value(text, "ctx_llm_cap_used_ratio", cap="bot-daily", bot_id="bot-1") == pytest.approx(
        0.84
    )
    assert value(text, "ctx_llm_cap_usd", cap="global-daily", bot_id="") == 2.0
    assert value(text, "ctx_llm_cap_used_ratio", cap="global-daily", bot_id="") == pytest.approx(
        0.21
    )


def test_breaker_state(client: TestClient, service) -> None:
    from context_service.llm.breaker import CircuitBreaker

    service.components.redis.sadd(service.components.keyspace.bots, "bot-1", "bot-2")
    breaker = CircuitBreaker(
        service.components.redis,
        service.components.keyspace,
        service.settings.breaker_failures,
        service.settings.breaker_open_seconds,
    )
    for _ in range(service.settings.breaker_failures):
        breaker.record_failure("bot-1", NOW, "timeout")
    text = client.get("/metrics").text
    assert value(text, "ctx_llm_breaker_open", bot_id="bot-1") == 1.0
    assert value(text, "ctx_llm_breaker_open", bot_id="bot-2") == 0.0
    breaker.record_success("bot-1")
    assert value(client.get("/metrics").text, "ctx_llm_breaker_open", bot_id="bot-1") == 0.0


def test_feed_lag_from_posted_evidence(client: TestClient) -> None:
    item = {
        "id": "news-1",
        "summary": "Exchange lists a token",
        "tags": {"category": "news"},
        "provenance": {"source": "cryptonews"},
        "observed_at": (T0 - timedelta(hours=1)).isoformat(),
    }
    assert client.post("/v1/evidence", json={"bot_id": "bot-1", "objects": [item]}, headers=AUTH)
    text = client.get("/metrics").text
    lag = value(text, "ctx_feed_lag_seconds", source="cryptonews")
    assert lag is not None and lag >= 3600
    assert value(text, "ctx_feed_last_received_timestamp_seconds", source="cryptonews") > 0


def test_a_hostile_source_name_is_escaped_and_sources_are_bounded(client: TestClient, service):
    from context_service.models import parse_knowledge

    hostile = 'feed"\n}{x'
    objects = [
        parse_knowledge(
            {"id": f"e{i}", "summary": "s", "provenance": {"source": f"{hostile}{i}"},
             "observed_at": T0.isoformat(), "kind": "evidence"}
        )
        for i in range(80)
    ]  # fmt: skip
    service.components.metrics.record_evidence(objects)
    text = client.get("/metrics").text  # still parses, one label value per source
    sources = {labels for name, labels in samples(text) if name == "ctx_feed_lag_seconds"}
    assert len(sources) == 51  # 50 named sources + "other"
    assert value(text, "ctx_feed_lag_seconds", source="other") is not None
    assert client.get("/healthz").status_code == 200


def test_redis_down_is_a_gauge_not_a_failed_scrape(redis_server, keyspace) -> None:
    """A real outage: the scrape still answers, ctx_redis_up says 0, and 1 again once Redis is
    back."""
    from context_service.service import ContextService
    from context_service.settings import Settings

    client = redis.Redis.from_url(redis_server.url, socket_connect_timeout=0.5, socket_timeout=0.5)
    service = ContextService(Settings(_env_file=None, api_token=TOKEN), client, keyspace)
    with TestClient(create_app(service=service), client=("127.0.0.1", 40000)) as http:
        assert value(http.get("/metrics").text, "ctx_redis_up") == 1.0
        redis_server.kill()
        response = http.get("/metrics")
        assert response.status_code == 200
        assert value(response.text, "ctx_redis_up") == 0.0
        assert value(response.text, "ctx_llm_cap_usd", cap="global-daily") is None  # unread
        redis_server.start()
        assert value(http.get("/metrics").text, "ctx_redis_up") == 1.0  # back on the next one
