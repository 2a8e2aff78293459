"""Market-wide evidence: a source's items are stored once and reach every bot's context as of
its decision time, in the sidecar (Redis) and in a backtest (in process)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from verdicts.support import T0, make_request

from context_service.api import create_app
from context_service.evidence.source import (
    EvidenceSource,
    Poll,
    SourcedItem,
    register,
    source_class,
    unregister,
)
from context_service.keys import InvalidBotId, Keyspace, validate_bot_id
from context_service.memory.market import MarketEvidenceError
from context_service.models import Evidence, Goal, Provenance

TOKEN = "market-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLISHED = T0 + timedelta(hours=2, minutes=10)  # between the candles of requests 2 and 3


class ExchangeNotices(EvidenceSource):
    """A source defined by the test: two notices, one per poll, cursor = last id."""

    name = "exchange-notices"
    summary = "maintenance notices (test)"
    scope = "market"

    NOTICES = [
        ("notice-1", "Exchange halts BTC withdrawals for maintenance", PUBLISHED),
        ("notice-2", "Exchange resumes BTC withdrawals", PUBLISHED + timedelta(hours=5)),
    ]

    def poll(self, cursor: str | None, now: datetime) -> Poll:
        ids = [n[0] for n in self.NOTICES]
        start = 0 if cursor is None else ids.index(cursor) + 1
        items = [
            SourcedItem(
                evidence=Evidence(
                    id=notice_id,
                    summary=text,
                    tags={"category": "news", "pair": "BTC/USDT"},
                    provenance=Provenance(source=self.name),
                    observed_at=published,
                    severity="high",
                    confidence="high",
                ),
                published_at=published,
                first_seen_at=published,
            )
            for notice_id, text, published in self.NOTICES[start : start + 1]
        ]
        return Poll(items=items, cursor=items[-1].evidence.id if items else cursor)


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    register(ExchangeNotices)
    yield
    unregister("exchange-notices")


def poll_into(service, cursor: str | None = None) -> str | None:
    """What a feed poller does: poll the registered source, upsert its items market-wide."""
    source = source_class("exchange-notices").build(None)
    result = source.poll(cursor, T0)
    service.upsert_market([item.evidence for item in result.items])
    return result.cursor


def included(verdict_service, bot_id: str, i: int) -> list[str]:
    verdict = verdict_service.decide(make_request(i, bot_id=bot_id, as_of=True), ["rules"])
    entry = verdict_service.audit(bot_id, kind="verdict")[-1]
    assert entry.payload["verdict"]["verdict_id"] == verdict.verdict_id
    return entry.payload["manifest"]["included"]


@pytest.mark.parametrize("store", ["redis", "memory"])
def test_a_source_item_reaches_two_bots_as_of_their_decision_time(
    make_service, redis_client: redis.Redis, keyspace: Keyspace, store: str
) -> None:
    service = make_service(llm=False, verdict_provider="rules", evidence_store=store)
    service.decide(make_request(0, bot_id="bot-a", as_of=True), ["rules"])  # engines exist
    cursor = poll_into(service)

    for bot in ("bot-a", "bot-b"):
        assert "notice-1" not in included(service, bot, 2)  # published after that candle
        assert "notice-1" in included(service, bot, 3)
        assert service.synthesize(bot, as_of=T0 + timedelta(hours=3)).text.count("notice-1") == 1

    # Stored once: in the market store, in no bot's own store.
    assert service.components.market.get("notice-1") is not None
    for bot in ("bot-a", "bot-b"):
        assert service.engine(bot).store.get("notice-1") is None
    if store == "redis":
        market_keys = keyspace.market()
        assert redis_client.hexists(market_keys.objects, "notice-1")
        for bot in ("bot-a", "bot-b"):
            assert not redis_client.hexists(keyspace.bot(bot).objects, "notice-1")

    # The next poll's item shows up too, from its own time on (no stale reuse of a synthesis).
    assert poll_into(service, cursor) == "notice-2"
    late = T0 + timedelta(hours=8)
    assert "notice-2" in service.synthesize("bot-b", as_of=late).text
    assert "notice-2" not in service.synthesize("bot-b", as_of=T0 + timedelta(hours=3)).text


def test_another_sidecar_process_sees_market_evidence_written_by_one(make_service) -> None:
    reader = make_service(llm=False, verdict_provider="rules")
    before = reader.synthesize("bot-a", as_of=T0 + timedelta(hours=3))
    poll_into(make_service(llm=False, verdict_provider="rules"))

    after = reader.synthesize("bot-a", as_of=T0 + timedelta(hours=3))

    assert "notice-1" not in before.text and "notice-1" in after.text


def test_a_bots_own_object_with_the_same_id_wins(make_service) -> None:
    service = make_service(llm=False, verdict_provider="rules")
    poll_into(service)
    own = Evidence(
        id="notice-1",
        summary="Our desk says the halt is routine",
        tags={"category": "news"},
        provenance=Provenance(source="desk"),
        observed_at=PUBLISHED,
    )
    service.upsert("bot-a", [own])

    text_a = service.synthesize("bot-a", as_of=T0 + timedelta(hours=3)).text
    text_b = service.synthesize("bot-b", as_of=T0 + timedelta(hours=3)).text

    assert "routine" in text_a and "halts BTC withdrawals" not in text_a
    assert "halts BTC withdrawals" in text_b


def test_only_dated_evidence_is_market_evidence(make_service) -> None:
    service = make_service(llm=False)
    undated = Evidence(
        id="undated", summary="x", tags={"category": "news"}, provenance=Provenance(source="f")
    )
    goal = Goal(id="goal-1", summary="keep drawdown small", provenance=Provenance(source="f"))
    for bad in (undated, goal):
        with pytest.raises(MarketEvidenceError):
            service.upsert_market([bad])
    assert len(service.components.market) == 0


def test_bot_ids_of_the_shared_tags_are_reserved() -> None:
    for reserved in ("ctx-market", "ctx-ledger", "ctx-global", "ctx-lease"):
        with pytest.raises(InvalidBotId, match="reserved"):
            validate_bot_id(reserved)


def notice(i: int, **overrides) -> dict:
    item = {
        "id": f"feed-{i}",
        "summary": f"Exchange lists token {i}",
        "tags": {"category": "news"},
        "provenance": {"source": "feed"},
        "observed_at": (T0 + timedelta(hours=1)).isoformat(),
    }
    item.update(overrides)
    return item


@pytest.fixture
def http(make_service) -> Iterator[TestClient]:
    service = make_service(llm=False, verdict_provider="rules", api_token=TOKEN)
    with TestClient(create_app(service=service)) as client:
        yield client


def test_market_evidence_over_http_reaches_every_bot(http: TestClient) -> None:
    response = http.post("/v1/market/evidence", json={"objects": [notice(1)]}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 1, "ids": ["feed-1"]}
    for bot in ("bot-a", "bot-b"):
        body = {
            "bot_id": bot,
            "budget_tokens": 2000,
            "as_of": (T0 + timedelta(hours=2)).isoformat(),
        }
        context = http.post("/v1/context", json=body, headers=AUTH)
        assert context.status_code == 200, context.text
        assert "feed-1" in context.json()["text"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"objects": [notice(1, observed_at=None)]}, 422),
        ({"objects": [notice(1, kind="goal")]}, 422),
        ({"objects": [notice(1, observed_at="9999-12-31T23:59:59Z")]}, 422),
        ({"objects": [notice(1, summary="x" * 100_000)]}, 422),
        ({"objects": [notice(1, id="feed-1\n")]}, 422),
        ({"objects": [notice(1, confidence="NaN")]}, 422),
        ({"objects": [notice(1), {"id": "broken"}]}, 422),
        ({"objects": []}, 422),
        ({"objects": "feed-1"}, 422),
        ({"objects": [notice(1)], "bot_id": "bot-a"}, 422),
        ([notice(1)], 422),
    ],
)
def test_bad_market_evidence_is_refused_and_nothing_is_written(
    http: TestClient, body, status: int
) -> None:
    response = http.post("/v1/market/evidence", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert (
        "feed-1"
        not in http.post(
            "/v1/context", json={"bot_id": "bot-a", "budget_tokens": 2000}, headers=AUTH
        ).json()["text"]
    )
    good = http.post("/v1/market/evidence", json={"objects": [notice(2)]}, headers=AUTH)
    assert good.status_code == 200


def test_market_evidence_needs_the_token(http: TestClient) -> None:
    assert http.post("/v1/market/evidence", json={"objects": [notice(1)]}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (
        http.post("/v1/market/evidence", json={"objects": [notice(1)]}, headers=wrong).status_code
        == 401
    )


def test_retention_purges_expired_market_evidence(make_service) -> None:
    service = make_service(llm=False)
    service.upsert_market(
        [
            Evidence(
                id="short-lived",
                summary="flash notice",
                tags={"category": "news"},
                provenance=Provenance(source="feed"),
                observed_at=T0,
                valid_until=T0 + timedelta(hours=1),
            )
        ]
    )
    assert service.components.memory.purge_market(now=T0 + timedelta(hours=2)) == 1
    assert service.components.market.get("short-lived") is None


def test_a_year_9999_observation_in_a_bots_evidence_is_refused_not_a_crash(http) -> None:
    far = notice(9, observed_at="9999-12-31T23:59:59Z")
    response = http.post("/v1/evidence", json={"bot_id": "bot-a", "objects": [far]}, headers=AUTH)
    assert response.status_code == 422 and "in the future" in response.text
    near = notice(9)
    response = http.post("/v1/evidence", json={"bot_id": "bot-a", "objects": [near]}, headers=AUTH)
    assert response.status_code == 200, response.text
    context = http.post(
        "/v1/context", json={"bot_id": "bot-a", "budget_tokens": 2000}, headers=AUTH
    )
    assert context.status_code == 200
    past = {"bot_id": "bot-a", "budget_tokens": 2000, "as_of": T0.isoformat()}
    assert "feed-9" not in http.post("/v1/context", json=past, headers=AUTH).json()["text"]
