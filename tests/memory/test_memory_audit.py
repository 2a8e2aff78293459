"""Audit trail: what the bot saw and decided at a given time, in a Redis stream."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import redis

from context_service.memory import Memory

from .conftest import T0


def test_what_did_the_bot_see_and_decide_at_a_moment(memory: Memory) -> None:
    audit = memory.bot("bot-a").audit
    for minute in range(0, 60, 5):
        at = T0 + timedelta(minutes=minute)
        audit.append("synthesis", {"manifest": {"id": f"m-{minute}", "entries": [1, 2]}}, at=at)
        audit.append("verdict", {"action": "buy", "cost": Decimal("0.0012"), "at": at}, at=at)
    around = audit.at(T0 + timedelta(minutes=20), window=timedelta(minutes=2))
    assert [(e.kind, e.at) for e in around] == [
        ("synthesis", T0 + timedelta(minutes=20)),
        ("verdict", T0 + timedelta(minutes=20)),
    ]
    assert around[0].payload == {"manifest": {"id": "m-20", "entries": [1, 2]}}
    assert around[1].payload["cost"] == "0.0012"


def test_query_filters_by_time_kind_and_limit(memory: Memory) -> None:
    audit = memory.bot("bot-a").audit
    for minute in range(300):
        kind = "verdict" if minute % 3 == 0 else "synthesis"
        audit.append(kind, {"n": minute}, at=T0 + timedelta(minutes=minute))
    verdicts = audit.query(T0 + timedelta(minutes=10), T0 + timedelta(minutes=250), "verdict", 500)
    assert [e.payload["n"] for e in verdicts] == list(range(12, 250, 3))
    assert len(audit.query(limit=7)) == 7
    assert audit.query(kind="verdict", limit=3)[-1].payload["n"] == 6
    with pytest.raises(ValueError, match="limit"):
        audit.query(limit=0)


def test_ids_stay_ordered_when_times_repeat_or_go_back(memory: Memory) -> None:
    audit = memory.bot("bot-a").audit
    first = audit.append("verdict", {"n": 1}, at=T0)
    second = audit.append("verdict", {"n": 2}, at=T0)
    late = audit.append("verdict", {"n": 3}, at=T0 - timedelta(hours=1))
    assert len({first, second, late}) == 3
    entries = audit.query()
    assert [e.payload["n"] for e in entries] == [1, 2, 3]
    assert entries[2].at == T0 - timedelta(hours=1)  # the real time is kept


def test_bad_payloads_are_refused(memory: Memory) -> None:
    audit = memory.bot("bot-a").audit
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        audit.append("verdict", {"x": object()})
    with pytest.raises(ValueError, match="kind"):
        audit.append("", {})
    with pytest.raises(ValueError, match="timezone"):
        audit.append("verdict", {}, at=T0.replace(tzinfo=None))
    assert len(audit) == 0


def test_trim_by_age_and_count(memory: Memory) -> None:
    audit = memory.bot("bot-a").audit
    for day in range(10):
        audit.append("verdict", {"day": day}, at=T0 + timedelta(days=day))
    removed = audit.trim(max_entries=5, max_age=timedelta(days=7), now=T0 + timedelta(days=9))
    assert removed == 5
    assert [e.payload["day"] for e in audit.query()] == [5, 6, 7, 8, 9]


def test_an_append_queued_in_a_pipeline_lands_once_beside_the_callers_writes(
    memory: Memory, keyspace
) -> None:
    """``append_in`` rides in the caller's pipeline (a cluster's pipeline refuses scripts:
    there it appends at once); ``settle`` hands back the caller's own replies, in order."""
    audit = memory.bot("bot-a").audit
    side = keyspace.bot("bot-a").last_verdicts
    for n in range(3):
        pipe = memory.client.pipeline(transaction=False)
        pipe.lpush(side, f"before-{n}")
        queued = audit.append_in(pipe, "verdict", {"n": n}, at=T0 + timedelta(minutes=n))
        pipe.llen(side)
        own = queued.settle(pipe.execute(raise_on_error=False))
        assert own == [n + 1, n + 1]
        assert queued.entry_id == f"{int((T0 + timedelta(minutes=n)).timestamp() * 1000)}-0"
    assert [e.payload["n"] for e in audit.query(kind="verdict")] == [0, 1, 2]


def test_a_queued_append_on_a_stream_of_the_wrong_type_raises_and_the_next_one_lands(
    memory: Memory, keyspace
) -> None:
    audit = memory.bot("bot-a").audit
    stream = keyspace.bot("bot-a").audit
    memory.client.set(stream, "not a stream")  # hostile contents: a plain string in its place
    pipe = memory.client.pipeline(transaction=False)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):  # at once, on a cluster
        queued = audit.append_in(pipe, "verdict", {"n": 0}, at=T0)
        queued.settle(pipe.execute(raise_on_error=False))
    memory.client.delete(stream)
    pipe = memory.client.pipeline(transaction=False)
    queued = audit.append_in(pipe, "verdict", {"n": 1}, at=T0)
    assert queued.settle(pipe.execute(raise_on_error=False)) == []
    assert [e.payload["n"] for e in audit.query()] == [1]
