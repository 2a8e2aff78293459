"""The engine on the real Redis store: two sidecar processes share one bot's knowledge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from context_service.engine import ContextEngine
from context_service.engine.samples import T0, constraint, news
from context_service.keys import Keyspace
from context_service.memory import Memory
from context_service.settings import Settings


@pytest.fixture
def memory(redis_url: str, keyspace: Keyspace, tmp_path) -> Iterator[Memory]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    settings = Settings(
        redis_url=redis_url,
        embedded_redis_path=tmp_path / "context.db",
        journal_dir=tmp_path / "journal",
    )
    yield Memory(client, keyspace=keyspace, settings=settings)
    client.close()


def test_two_engines_on_one_bot_see_each_others_writes(memory: Memory):
    first = ContextEngine(store=memory.bot("bot-a").evidence)
    second = ContextEngine(store=memory.bot("bot-a").evidence)
    first.upsert_many([news(1, observed_at=T0), constraint(1)], now=T0)
    text = second.synthesize(800, now=T0).text
    assert "[news-1]" in text and "[risk-1]" in text

    second.upsert(news(1, summary="Story corrected by the wire", observed_at=T0), now=T0)
    first.delete("risk-1")
    again = first.synthesize(800, now=T0 + timedelta(minutes=1))
    assert "Story corrected by the wire" in again.text
    assert "[risk-1]" not in again.text
    assert second.synthesize(800, now=T0 + timedelta(minutes=1)).text == again.text


def test_as_of_on_redis_matches_the_in_memory_engine(memory: Memory):
    objects = [news(i, observed_at=T0 - timedelta(hours=i)) for i in range(30)]
    objects += [news(99, observed_at=T0 + timedelta(hours=1))]
    on_redis = ContextEngine(store=memory.bot("bot-b").evidence)
    in_memory = ContextEngine()
    on_redis.upsert_many(objects, now=T0 - timedelta(days=2))
    in_memory.upsert_many(objects, now=T0 - timedelta(days=2))
    redis_result = on_redis.synthesize(600, as_of=T0)
    memory_result = in_memory.synthesize(600, as_of=T0)
    assert redis_result.text == memory_result.text
    assert redis_result.manifest.entry("news-99").reason == "not-yet-observed"


def test_an_unchanged_redis_store_is_not_read_again(memory: Memory, monkeypatch):
    store = memory.bot("bot-c").evidence
    engine = ContextEngine(store=store)
    engine.upsert_many([news(i, observed_at=T0) for i in range(5)], now=T0)
    engine.synthesize(400, now=T0)

    reads = []
    original = store.all
    monkeypatch.setattr(store, "all", lambda: reads.append(1) or original())
    engine.synthesize(400, now=T0)
    assert reads == []  # the version did not move: no walk over the objects

    memory.bot("bot-c").evidence.upsert(news(9, observed_at=T0), now=T0)  # another writer
    assert "[news-9]" in engine.synthesize(400, now=T0).text
    assert reads == [1]
