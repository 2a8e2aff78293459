"""The Redis evidence store behaves like the in-memory store, point in time, with lane TTLs."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from context_service.engine.store import InMemoryStore, KnowledgeStore
from context_service.memory import Memory, lane_of
from context_service.models import Constraint, Evidence, Goal, Insight

from .conftest import T0


def _ev(object_id: str, minutes: int | None = 0, **kw) -> Evidence:
    observed = None if minutes is None else T0 + timedelta(minutes=minutes)
    return Evidence(
        id=object_id,
        summary=kw.pop("summary", f"about {object_id}"),
        provenance={"source": "test"},
        observed_at=observed,
        **kw,
    )


def test_implements_the_knowledge_store_protocol(memory: Memory) -> None:
    assert isinstance(memory.bot("bot-a").evidence, KnowledgeStore)


def test_upsert_get_delete_round_trip(memory: Memory) -> None:
    store = memory.bot("bot-a").evidence
    stored = store.upsert(_ev("news-1", tags={"category": "news"}), now=T0)
    assert store.get("news-1") == stored
    assert stored.created_at == T0 and stored.updated_at == T0
    assert store.delete("news-1") is True
    assert store.delete("news-1") is False
    assert store.get("news-1") is None
    assert list(store.all()) == []


def test_merge_semantics_match_the_in_memory_store(memory: Memory) -> None:
    rng = random.Random(11)
    redis_store, reference = memory.bot("bot-a").evidence, InMemoryStore()
    ids = [f"e-{i}" for i in range(6)]
    for step in range(60):
        now = T0 + timedelta(minutes=step)
        object_id = rng.choice(ids)
        if rng.random() < 0.15:
            assert redis_store.delete(object_id) == reference.delete(object_id)
            assert {o.id for o in redis_store.all()} == {o.id for o in reference.all()}
            continue
        fields: dict = {"tags": {rng.choice("abc"): str(step)}}
        if rng.random() < 0.5:
            fields["confidence"] = round(rng.random(), 2)
        if rng.random() < 0.3:
            fields["severity"] = rng.choice(["low", "high"])
        obj = Evidence(
            id=object_id,
            summary=f"v{step}",
            provenance={"source": "s"},
            observed_at=T0 + timedelta(minutes=rng.randint(0, 60)) if rng.random() < 0.8 else None,
            **fields,
        )
        assert redis_store.upsert(obj, now) == reference.upsert(obj, now)
        # reads after each write go through the patched read snapshot
        assert {o.id: o for o in redis_store.visible(None, now=T0)} == {
            o.id: o for o in reference.visible(None, now=T0)
        }
    for as_of in (None, T0 + timedelta(minutes=20), T0 + timedelta(hours=2)):
        got = sorted(o.id for o in redis_store.visible(as_of, now=T0))
        want = sorted(o.id for o in reference.visible(as_of, now=T0))
        assert got == want
    assert {o.id: o for o in redis_store.all()} == {o.id: o for o in reference.all()}


def test_as_of_sees_only_what_was_known_then(memory: Memory) -> None:
    store = memory.bot("bot-a").evidence
    store.upsert_many(
        [
            _ev("past", -60),
            _ev("at-t", 0),
            _ev("future", 60),
            _ev("undated", None),
            _ev("ended", -120, valid_until=T0 - timedelta(minutes=1)),
        ],
        now=T0,
    )
    assert sorted(o.id for o in store.visible(T0)) == ["at-t", "past"]
    assert sorted(o.id for o in store.visible(None, now=T0)) == [
        "at-t",
        "future",
        "past",
        "undated",
    ]


def test_upsert_many_merges_repeated_ids_in_order(memory: Memory) -> None:
    store = memory.bot("bot-a").evidence
    stored = store.upsert_many(
        [_ev("x", 0, tags={"a": "1"}), _ev("x", 5, tags={"b": "2"}, summary="second")], now=T0
    )
    assert stored[-1].tags == {"a": "1", "b": "2"}
    assert store.get("x").summary == "second"
    assert len(store) == 1


@pytest.mark.parametrize(
    ("obj", "lane"),
    [
        (Constraint(id="c", summary="s", provenance={"source": "x"}), "risk-factors"),
        (
            Evidence(id="r", summary="s", provenance={"source": "x"}, tags={"category": "risk"}),
            "risk-factors",
        ),
        (Goal(id="g", summary="s", provenance={"source": "x"}), "strategy"),
        (Insight(id="i", summary="s", provenance={"source": "x"}), "memory"),
        (
            Evidence(
                id="m", summary="s", provenance={"source": "x"}, tags={"category": "market-data"}
            ),
            "market-data",
        ),
        (
            Evidence(id="e", summary="s", provenance={"source": "x"}, tags={"category": "event"}),
            "market-events",
        ),
        (Evidence(id="n", summary="s", provenance={"source": "x"}), "news-sentiment"),
        (
            Evidence(id="u", summary="s", provenance={"source": "x"}, tags={"category": "gossip"}),
            None,
        ),
    ],
)
def test_lane_mapping_agrees_with_the_engine(obj, lane: str | None) -> None:
    assert lane_of(obj) == lane


def test_purge_applies_lane_ttl_and_valid_until(memory: Memory) -> None:
    # settings fixture: news-sentiment 24 h, market-data 2 h, other lanes never expire
    store = memory.bot("bot-a").evidence
    store.upsert_many(
        [
            _ev("news", 0, tags={"category": "news"}),
            _ev("ta", 0, tags={"category": "market-data"}),
            _ev("pinned-ta", 0, tags={"category": "market-data"}, pinned=True),
            _ev("event", 0, tags={"category": "event"}),
            _ev("short", 0, tags={"category": "event"}, valid_until=T0 + timedelta(minutes=30)),
            Goal(id="goal", summary="keep drawdown low", provenance={"source": "me"}),
        ],
        now=T0,
    )
    assert [o.id for o in store.purge_expired(T0 + timedelta(minutes=29))] == []
    assert sorted(o.id for o in store.purge_expired(T0 + timedelta(hours=3))) == ["short", "ta"]
    assert sorted(o.id for o in store.purge_expired(T0 + timedelta(days=2))) == ["news"]
    assert sorted(o.id for o in store.all()) == ["event", "goal", "pinned-ta"]


def test_visible_over_five_thousand_objects_is_complete(memory: Memory) -> None:
    store = memory.bot("bot-a").evidence
    store.upsert_many([_ev(f"n-{i}", i % 600) for i in range(5000)], now=T0)
    expected = sum(1 for i in range(5000) if i % 600 <= 299)
    assert len(list(store.visible(T0 + timedelta(minutes=299)))) == expected
    assert len(list(store.visible(None, now=T0))) == 5000


def test_a_second_process_sees_writes_of_the_first(memory: Memory, redis_client) -> None:
    # Two sidecar workers: separate stores (separate read snapshots) on the same bot keys.
    first = memory.bot("bot-a").evidence
    second = Memory(redis_client, memory.keyspace, memory.settings).bot("bot-a").evidence
    first.upsert(_ev("a", 0), now=T0)
    assert [o.id for o in second.visible(T0)] == ["a"]
    first.upsert(_ev("a", 0, summary="revised"), now=T0)
    first.upsert(_ev("b", 1), now=T0)
    assert [(o.id, o.summary) for o in second.visible(T0 + timedelta(minutes=1))] == [
        ("a", "revised"),
        ("b", "about b"),
    ]
    first.delete("a")
    first.purge_expired(T0)
    assert [o.id for o in second.all()] == ["b"]
    assert second.get("a") is None


def test_patched_snapshot_equals_a_fresh_read(memory: Memory, redis_client) -> None:
    rng = random.Random(5)
    store = memory.bot("bot-a").evidence
    list(store.all())  # start a read snapshot, so every write below patches it
    for step in range(40):
        size = rng.choice([1, 2, 3, 100])  # 100: above the in-place patch limit
        batch = [
            _ev(f"o-{rng.randint(0, 150)}", rng.choice([None, 0, 1, 2, 3]), summary=f"s{step}")
            for _ in range(size)
        ]
        store.upsert_many(batch, now=T0)
        for _ in range(rng.randint(0, 3)):
            store.delete(f"o-{rng.randint(0, 150)}")
        fresh = Memory(redis_client, memory.keyspace, memory.settings).bot("bot-a").evidence
        for as_of in (None, T0 + timedelta(minutes=1)):
            assert list(store.visible(as_of, now=T0)) == list(fresh.visible(as_of, now=T0))


def test_ids_as_of_uses_the_server_index(memory: Memory) -> None:
    store = memory.bot("bot-a").evidence
    store.upsert_many([_ev("a", 0), _ev("b", 10), _ev("c", None)], now=T0)
    assert store.ids_as_of(T0 + timedelta(minutes=5)) == ["a"]
    assert store.ids_as_of(T0 + timedelta(minutes=10)) == ["a", "b"]


def test_a_write_merges_against_another_writers_change_in_between(memory: Memory) -> None:
    from context_service.memory.evidence import RedisKnowledgeStore

    mine = memory.bot("bot-a").evidence
    other = RedisKnowledgeStore(memory.client, memory.keyspace.bot("bot-a"))
    mine.upsert(_ev("news-1", tags={"category": "news"}), now=T0)
    list(mine.all())  # my read snapshot is current
    other.upsert(_ev("news-1", tags={"pair": "BTC/USDT"}), now=T0)  # unseen by my snapshot

    merged = mine.upsert(_ev("news-1", tags={"source": "desk"}), now=T0 + timedelta(minutes=1))

    # The script refused to write against a stale snapshot; the careful path merged all three.
    assert merged.tags == {"category": "news", "pair": "BTC/USDT", "source": "desk"}
    assert other.get("news-1") == merged
    assert sorted(o.id for o in other.all()) == ["news-1"]


def test_writes_against_a_current_snapshot_keep_every_index(memory: Memory) -> None:
    store = memory.bot("bot-a").evidence
    store.upsert(_ev("a", tags={"category": "news"}), now=T0)
    list(store.all())
    store.upsert_many([_ev("a", minutes=None), _ev("b", minutes=5)], now=T0)
    fresh = type(store)(memory.client, memory.keyspace.bot("bot-a"))  # reads Redis only
    assert {o.id for o in fresh.visible(as_of=T0 + timedelta(minutes=10))} == {"b"}
    assert {o.id for o in fresh.visible(as_of=None, now=T0)} == {"a", "b"}
    assert fresh.ids_as_of(T0 + timedelta(minutes=10)) == ["b"]
