"""Retention never stops for everyone: objects and bots are handled one by one, and audit
entries age by when they were written (a backtest's entries, dated at past candles, stay)."""

from __future__ import annotations

import json
from datetime import timedelta

from context_service.memory import Memory, unreadable
from context_service.models import Evidence, utcnow
from context_service.retention import RetentionScheduler

from .conftest import T0


def _news(object_id: str, at) -> Evidence:
    return Evidence(
        id=object_id,
        summary=object_id,
        provenance={"source": "t"},
        observed_at=at,
        tags={"category": "news"},
    )


def test_one_unreadable_object_or_bot_does_not_stop_retention(memory: Memory) -> None:
    now = T0 + timedelta(days=2)
    for bot_id in ("bot-a", "bot-b", "bot-c"):
        memory.bot(bot_id).evidence.upsert(_news("old-news", T0), now=T0)
    keys_a = memory.keyspace.bot("bot-a")
    # An older version's object: NaN confidence, expiry due. It is removed with the others.
    memory.client.hset(
        keys_a.objects,
        "bad",
        json.dumps(
            {
                "kind": "evidence",
                "id": "bad",
                "summary": "x",
                "confidence": float("nan"),
                "provenance": {"source": "t"},
            }
        ),
    )
    memory.client.zadd(keys_a.objects_by_expiry, {"bad": T0.timestamp()})
    # A bot whose audit key has the wrong type, and an id an older validator let in.
    memory.client.set(memory.keyspace.bot("bot-b").audit, "not a stream")
    memory.client.sadd(memory.keyspace.bots, "bot-x\n")
    before = unreadable.counts().get("retention", 0)

    report = memory.apply_retention(now=now)

    assert report["bot-a"] == {"evidence_expired": 1, "audit_trimmed": 0}
    assert not memory.client.hexists(keys_a.objects, "bad")
    assert report["bot-c"] == {"evidence_expired": 1, "audit_trimmed": 0}
    assert "WRONGTYPE" in report["bot-b"]["error"]
    assert "invalid bot id" in report["bot-x\n"]["error"]
    assert unreadable.counts()["retention"] == before + 2
    assert memory.bot("bot-c").evidence.get("old-news") is None


def test_the_scheduler_counts_failed_bots_and_keeps_going(memory: Memory) -> None:
    memory.bot("bot-a").evidence.upsert(_news("n", T0), now=T0)
    memory.client.sadd(memory.keyspace.bots, "Not A Bot")
    seen: list[str] = []
    scheduler = RetentionScheduler(memory, 3600, on_failure=seen.append)
    report = scheduler.run_once()
    assert seen == ["bot"] and scheduler.failures == 1
    assert report["bot-a"]["evidence_expired"] == 1


def test_a_backtests_audit_entries_age_by_write_time(memory: Memory) -> None:
    bot = memory.bot("backtest")
    for n in range(5):  # dated at candles long past, written now
        bot.audit.append("verdict", {"n": n}, at=T0 + timedelta(hours=n))
    now = utcnow()

    assert memory.apply_retention(now=now)["backtest"]["audit_trimmed"] == 0
    assert [e.payload["n"] for e in bot.audit.at(T0 + timedelta(hours=2), timedelta(hours=3))] == [
        0,
        1,
        2,
        3,
        4,
    ]
    later = now + timedelta(days=memory.settings.audit_max_age_days, minutes=2)
    assert memory.apply_retention(now=later)["backtest"]["audit_trimmed"] == 5
    bot.audit.append("verdict", {"n": 5}, at=T0)  # the stream keeps working after the trim
    assert [e.payload["n"] for e in bot.audit.query()] == [5]


def test_streams_without_write_marks_age_by_their_ids(memory: Memory) -> None:
    key = memory.keyspace.bot("bot-a").audit
    memory.bot("bot-a")
    old, recent = T0, utcnow() - timedelta(days=1)
    for moment in (old, recent):  # as an older version wrote them: no write marks
        memory.client.xadd(
            key,
            {"kind": "verdict", "at": moment.isoformat(), "payload": "{}"},
            id=f"{int(moment.timestamp() * 1000)}-1",
        )
    assert memory.apply_retention(now=utcnow())["bot-a"]["audit_trimmed"] == 1
    assert memory.client.xlen(key) == 1
