"""The poller: schedule, backoff, breaker, isolation of failures, status and metrics."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import respx
from prometheus_client import generate_latest

from context_service.engine.store import InMemoryStore
from context_service.evidence.poller import FeedPoller, build_jobs, enabled_sources
from context_service.evidence.runtime import redis_claim
from context_service.evidence.status import RedisStatusStore

from .conftest import FETCHED_AT, fixture_bytes

CT = "https://cointelegraph.com/rss"
DECRYPT = "https://decrypt.co/feed"


class FlakyStore(InMemoryStore):
    """A store whose writes fail while ``down`` is set."""

    down = False

    def upsert_many(self, objects, now=None):
        if self.down:
            raise ConnectionError("store down")
        return super().upsert_many(objects, now)


@pytest.fixture
def settings(feed_settings):
    return feed_settings.model_copy(
        update={
            "enabled": ("rss", "fear-greed", "coingecko"),
            "breaker_failures": 3,
            "breaker_open_s": 1800,
            "max_backoff_s": 3600,
        }
    )


@pytest.fixture
def jobs(components, settings):
    components.settings = settings
    built, skipped = build_jobs(components)
    assert skipped == {}
    return built


def test_enabled_sources_add_keyed_ones_only_with_a_key(settings) -> None:
    from pydantic import SecretStr

    assert enabled_sources(settings) == ["rss", "fear-greed", "coingecko"]
    with_key = settings.model_copy(update={"cmc_api_key": SecretStr("k")})
    assert enabled_sources(with_key)[-1] == "coinmarketcap"


@respx.mock
def test_one_failing_feed_never_stops_the_others(jobs, settings) -> None:
    respx.get(CT).respond(200, content=fixture_bytes("cointelegraph.rss"))
    respx.get(DECRYPT).respond(200, content=b"<html>oops</html>")
    respx.get("https://api.alternative.me/fng/").mock(side_effect=httpx.ReadTimeout("x"))
    respx.get("https://api.coingecko.com/api/v3/global").respond(
        200, content=fixture_bytes("coingecko-global.json")
    )
    store = InMemoryStore()
    poller = FeedPoller(jobs, store, settings)
    polled = poller.run_due(FETCHED_AT)
    assert sorted(polled) == ["coingecko", "fear-greed", "rss-cointelegraph", "rss-decrypt"]
    status = {s["name"]: s for s in poller.view(FETCHED_AT)}
    assert status["rss-cointelegraph"]["items_stored"] == 3
    assert status["rss-decrypt"]["last_error"].startswith("malformed")
    assert status["fear-greed"]["last_error"].startswith("timeout")
    assert status["coingecko"]["items_stored"] == 1 and status["coingecko"]["lag_s"] == 0
    assert len(store) == 4


@respx.mock
def test_backoff_doubles_then_the_breaker_opens_and_a_success_closes_it(jobs, settings) -> None:
    route = respx.get("https://api.alternative.me/fng/").respond(503)
    job = next(j for j in jobs if j.name == "fear-greed")
    poller = FeedPoller([job], InMemoryStore(), settings)
    now = FETCHED_AT
    waits = []
    for _ in range(3):
        poller.run_due(now)
        state = poller.states["fear-greed"]
        waits.append((state.next_due - now).total_seconds())
        now = state.next_due
    assert waits[:2] == [3600, 3600]  # interval 3600 s, already at max_backoff_s
    opened = poller.states["fear-greed"].last_error_at
    until = poller.states["fear-greed"].breaker_open_until
    assert until == opened + timedelta(seconds=1800)
    assert poller.view(until - timedelta(seconds=1))[0]["breaker"] == "open"
    assert poller.run_due(now - timedelta(seconds=1)) == []  # not due yet: not polled
    route.respond(200, content=fixture_bytes("fng-latest.json"))
    poller.run_due(now)
    state = poller.states["fear-greed"]
    assert state.failures == 0 and state.breaker_open_until is None
    assert poller.view(now)[0]["breaker"] == "closed"


@respx.mock
def test_backoff_grows_from_the_interval(components, settings) -> None:
    fast = settings.model_copy(update={"interval_s": {"rss": 60}, "breaker_failures": 10})
    components.settings = fast
    jobs, _ = build_jobs(components)
    job = next(j for j in jobs if j.name == "rss-decrypt")
    respx.get(DECRYPT).mock(side_effect=httpx.ConnectError("down"))
    poller = FeedPoller([job], InMemoryStore(), fast)
    now, waits = FETCHED_AT, []
    for _ in range(4):
        poller.run_due(now)
        waits.append((poller.states[job.name].next_due - now).total_seconds())
        now = poller.states[job.name].next_due
    assert waits == [60, 120, 240, 480]


@respx.mock
def test_items_survive_a_store_outage_and_arrive_on_the_retry(jobs, settings) -> None:
    respx.get(CT).respond(200, content=fixture_bytes("cointelegraph.rss"), headers={"ETag": '"a"'})
    store = FlakyStore()
    store.down = True
    job = next(j for j in jobs if j.name == "rss-cointelegraph")
    poller = FeedPoller([job], store, settings)
    poller.run_due(FETCHED_AT)
    assert poller.states[job.name].last_error.startswith("ConnectionError")
    store.down = False
    retry_at = poller.states[job.name].next_due
    poller.run_due(retry_at)
    # the ETag was forgotten after the failed write, so the full feed came again
    assert "If-None-Match" not in respx.calls[-1].request.headers
    assert len(store) == 3


@respx.mock
def test_duplicates_across_feeds_are_stored_once(jobs, settings) -> None:
    respx.get(CT).respond(200, content=fixture_bytes("cointelegraph.rss"))
    respx.get(DECRYPT).respond(200, content=fixture_bytes("decrypt.atom"))
    store = InMemoryStore()
    rss = [j for j in jobs if j.name.startswith("rss-")]
    poller = FeedPoller(rss, store, settings)
    poller.run_due(FETCHED_AT)
    poller.run_due(FETCHED_AT + timedelta(minutes=10))  # a re-poll stores nothing twice
    status = {s["name"]: s for s in poller.view(FETCHED_AT)}
    # Decrypt's Celsius story repeats CoinTelegraph's: kept once (the first report)
    assert status["rss-decrypt"]["duplicates"] >= 1
    titles = sorted(o.summary for o in store.all())
    assert sum("Celsius" in t for t in titles) == 1 and len(titles) == 4


@respx.mock
def test_future_dated_items_are_not_visible_before_their_time(jobs, settings) -> None:
    ahead = fixture_bytes("cointelegraph.rss").replace(
        b"Mon, 13 Jun 2022 04:32:00 +0000", b"Mon, 13 Jun 2022 20:00:00 +0000"
    )
    respx.get(CT).respond(200, content=ahead)
    store = InMemoryStore()
    job = next(j for j in jobs if j.name == "rss-cointelegraph")
    FeedPoller([job], store, settings).run_due(FETCHED_AT)

    def visible(at):
        return {o.summary[:7] for o in store.visible(at)}

    assert "Celsius" not in visible(FETCHED_AT + timedelta(hours=11))
    assert "Celsius" in visible(FETCHED_AT + timedelta(hours=12))


@respx.mock
def test_status_and_cursor_persist_in_redis(jobs, settings, redis_client, keyspace) -> None:
    respx.get("https://api.alternative.me/fng/").respond(
        200, content=fixture_bytes("fng-history.json")
    )
    job = next(j for j in jobs if j.name == "fear-greed")
    status = RedisStatusStore(redis_client, keyspace.feeds_status)
    FeedPoller([job], InMemoryStore(), settings, status=status).run_due(FETCHED_AT)
    redis_client.hset(keyspace.feeds_status, "junk", "{not json")
    again = FeedPoller([job], InMemoryStore(), settings, status=status)
    assert again.states["fear-greed"].cursor == "2022-06-12"
    assert again.states["fear-greed"].items_stored == 30
    assert "junk" not in again.states


@respx.mock
def test_metrics(jobs, settings) -> None:
    respx.get(CT).respond(200, content=fixture_bytes("cointelegraph.rss"))
    respx.get(DECRYPT).respond(500)
    poller = FeedPoller([j for j in jobs if j.name.startswith("rss-")], InMemoryStore(), settings)
    poller.run_due(FETCHED_AT)
    text = generate_latest(poller.metrics.registry).decode()
    assert 'ctx_feed_items_total{outcome="stored",source="rss-cointelegraph"} 3.0' in text
    assert 'ctx_feed_errors_total{reason="http_500",source="rss-decrypt"} 1.0' in text
    assert 'ctx_feed_lag_seconds{source="rss-cointelegraph"} 0.0' in text


@respx.mock
def test_two_replicas_poll_each_feed_once_per_round(jobs, settings, redis_client, keyspace) -> None:
    """Two pollers (two sidecar workers) sharing the claim in Redis: each source is fetched
    once per interval; when the claim store fails, a replica polls anyway."""
    routes = [
        respx.get(CT).respond(200, content=fixture_bytes("cointelegraph.rss")),
        respx.get(DECRYPT).respond(200, content=fixture_bytes("decrypt.atom")),
        respx.get("https://api.alternative.me/fng/").respond(
            200, content=fixture_bytes("fng-latest.json")
        ),
        respx.get("https://api.coingecko.com/api/v3/global").respond(
            200, content=fixture_bytes("coingecko-global.json")
        ),
    ]

    claim = redis_claim(redis_client, keyspace)
    store = InMemoryStore()
    first = FeedPoller(jobs, store, settings, claim=claim)
    second = FeedPoller(jobs, store, settings, claim=claim)
    assert len(first.run_due(FETCHED_AT)) == 4
    assert second.run_due(FETCHED_AT) == []  # the other replica's turn
    assert [route.call_count for route in routes] == [1, 1, 1, 1]
    stored = len(store)

    def broken(name: str, seconds: float) -> bool:
        raise ConnectionError("redis down")

    third = FeedPoller(jobs, store, settings, claim=broken)
    assert len(third.run_due(FETCHED_AT)) == 4
    assert [route.call_count for route in routes] == [2, 2, 2, 2]
    assert len(store) == stored  # the repeated items merged
