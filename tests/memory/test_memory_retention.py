"""Retention: evidence TTL per lane, audit trimmed by age and count, trade history kept."""

from __future__ import annotations

from datetime import timedelta

from context_service.memory import Memory
from context_service.models import Evidence

from .conftest import T0, closed_event


def _news(object_id: str, category: str, at) -> Evidence:
    return Evidence(
        id=object_id,
        summary=object_id,
        provenance={"source": "t"},
        observed_at=at,
        tags={"category": category},
    )


def test_apply_retention_over_all_bots(memory: Memory) -> None:
    # settings fixture: news 24 h, market-data 2 h; audit 100 entries, 30 days
    now = T0 + timedelta(days=40)
    for bot_id in ("bot-a", "bot-b"):
        bot = memory.bot(bot_id)
        bot.evidence.upsert_many(
            [
                _news("old-news", "news", now - timedelta(hours=25)),
                _news("fresh-news", "news", now - timedelta(hours=1)),
                _news("old-ta", "market-data", now - timedelta(hours=3)),
                _news("event", "event", T0),  # market-events: not listed, never expires
            ],
            now=now,
        )
        for n in range(130):  # 10 too old, then 120 recent ones of which 100 stay
            at = (T0 + timedelta(minutes=n)) if n < 10 else now - timedelta(minutes=130 - n)
            bot.audit.append("verdict", {"n": n}, at=at)
        for n in range(1, 4):
            bot.record_trade_event(closed_event(n, 1.0, bot_id=bot_id))

    stats_before = memory.bot("bot-a").stats().model_dump()
    report = memory.apply_retention(now=now)
    assert report == {
        "bot-a": {"evidence_expired": 2, "audit_trimmed": 30},
        "bot-b": {"evidence_expired": 2, "audit_trimmed": 30},
    }
    bot = memory.bot("bot-a")
    assert sorted(o.id for o in bot.evidence.all()) == ["event", "fresh-news"]
    assert [e.payload["n"] for e in bot.audit.query(limit=1000)] == list(range(30, 130))
    # Statistics come from trade memory, not evidence: unchanged after expiry.
    assert bot.stats().model_dump() == stats_before
    assert memory.apply_retention(now=now) == {
        "bot-a": {"evidence_expired": 0, "audit_trimmed": 0},
        "bot-b": {"evidence_expired": 0, "audit_trimmed": 0},
    }


def test_insights_outlive_raw_evidence(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.insight_rules = bot.insight_rules.__class__(min_trades=3)
    for n in range(1, 5):
        bot.record_trade_event(closed_event(n, -1.0, pair="DOGE/USDT"))
    bot.evidence.upsert(_news("news-1", "news", T0), now=T0)
    bot.refresh_insights(now=T0 + timedelta(hours=6))
    memory.apply_retention(now=T0 + timedelta(days=5))
    ids = {o.id for o in bot.evidence.all()}
    assert "news-1" not in ids
    assert "insight:pair:DOGE-USDT:poor-record" in ids  # the memory lane has no TTL
    assert bot.stats().trades == 4
