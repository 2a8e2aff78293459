"""Durability: memory survives a Redis restart; trade events survive an outage via the journal."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from context_service.keys import Keyspace
from context_service.memory import JournaledTradeWriter, Memory, connect
from context_service.models import Evidence
from context_service.settings import Settings

from .conftest import T0, closed_event, fill_event


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _memory(url: str, settings: Settings) -> Memory:
    return Memory(connect(settings.model_copy(update={"redis_url": url})), Keyspace(), settings)


def _fill_all_data_classes(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.insight_rules = bot.insight_rules.__class__(min_trades=3)
    bot.record_trade_event(fill_event(1, confidence=0.65, verdict_id="v-1"))
    for n in range(1, 6):
        bot.record_trade_event(closed_event(n, -1.0 if n % 2 else 0.5, pair="DOGE/USDT"))
    bot.record_llm_cost(T0, 0.02, "v-1")
    bot.evidence.upsert(
        Evidence(
            id="news-1",
            summary="ETF approved",
            provenance={"source": "wire"},
            observed_at=T0,
            tags={"category": "event"},
        ),
        now=T0,
    )
    bot.refresh_insights(now=T0 + timedelta(days=1))
    bot.audit.append("verdict", {"action": "hold", "why": "spread too wide"}, at=T0)


def _read_all(memory: Memory) -> dict:
    bot = memory.bot("bot-a")
    return {
        "stats": bot.stats().model_dump(),
        "trades": [t.model_dump() for t in bot.closed_trades()],
        "events": [e.model_dump() for e in bot.trades.events()],
        "evidence": sorted(o.model_dump_json() for o in bot.evidence.all()),
        "audit": [e.model_dump() for e in bot.audit.query()],
        "bots": memory.bot_ids(),
    }


def test_everything_survives_a_redis_restart(redis_server, settings: Settings) -> None:
    before_memory = _memory(redis_server.url, settings)
    _fill_all_data_classes(before_memory)
    before = _read_all(before_memory)
    assert before["stats"]["trades"] == 5 and before["stats"]["llm_cost"] == 0.02
    assert any("insight:" in o for o in before["evidence"])
    before_memory.client.close()

    redis_server.stop()
    redis_server.start()
    assert _read_all(_memory(redis_server.url, settings)) == before


def test_everything_survives_a_redis_crash(redis_server, settings: Settings) -> None:
    memory = _memory(redis_server.url, settings)
    _fill_all_data_classes(memory)
    before = _read_all(memory)
    memory.client.close()
    redis_server.kill()  # no clean shutdown: the AOF (fsync always) must hold everything
    redis_server.start()
    assert _read_all(_memory(redis_server.url, settings)) == before


def test_outage_events_are_journaled_and_replayed_in_order(
    redis_server, settings: Settings, tmp_path
) -> None:
    memory = _memory(redis_server.url, settings)
    writer = JournaledTradeWriter(memory, tmp_path / "journal")
    early = closed_event(1, 1.0)
    assert writer.record(early) == "stored"

    redis_server.kill()
    outage = [
        early,  # a retry of something already stored: must not count twice
        fill_event(2, verdict_id="v-2", confidence=0.61),
        closed_event(2, -2.0),  # needs the entry above stored first to inherit its verdict
        closed_event(3, 0.5),
    ]
    assert [writer.record(e) for e in outage] == ["journaled"] * 4
    assert writer.pending() == 4

    redis_server.start()
    assert writer.replay() == 4
    assert writer.pending() == 0
    bot = memory.bot("bot-a")
    trades = {t.trade_id: t for t in bot.closed_trades()}
    assert sorted(trades) == ["1", "2", "3"]
    assert (trades["2"].verdict_id, trades["2"].confidence) == ("v-2", 0.61)
    assert bot.stats().net_pnl == -0.5
    assert writer.replay() == 0  # nothing left: a second replay is a no-op
    assert writer.record(early) == "duplicate"


def test_recording_after_recovery_replays_the_journal_first(
    redis_server, settings: Settings, tmp_path
) -> None:
    memory = _memory(redis_server.url, settings)
    clock = FakeClock()
    writer = JournaledTradeWriter(memory, retry_after_s=5, clock=clock)  # settings.journal_dir
    assert writer.journal_dir == settings.journal_dir
    redis_server.kill()
    assert writer.record(fill_event(4, verdict_id="v-4", confidence=0.9)) == "journaled"
    redis_server.start()
    clock.now += 5  # after the quiet period the writer tries Redis again
    # The strategy does not call replay(): the next event flushes the journal, in order.
    assert writer.record(closed_event(4, 3.0)) == "stored"
    (trade,) = memory.bot("bot-a").closed_trades()
    assert trade.verdict_id == "v-4"
    assert writer.pending() == 0


def test_during_an_outage_the_writer_does_not_wait_on_redis_for_every_fill(
    redis_server, settings: Settings, tmp_path, monkeypatch
) -> None:
    memory = _memory(redis_server.url, settings)
    clock = FakeClock()
    writer = JournaledTradeWriter(memory, tmp_path / "journal", retry_after_s=5, clock=clock)
    redis_server.kill()
    assert writer.record(fill_event(1)) == "journaled"
    attempts = []
    monkeypatch.setattr(memory, "bot", lambda *a, **k: attempts.append(a) or pytest.fail("tried"))
    clock.now += 4.9
    assert writer.record(fill_event(2)) == "journaled"  # straight to the journal
    assert attempts == [] and writer.pending() == 2
    monkeypatch.undo()
    redis_server.start()
    clock.now += 0.2
    assert writer.record(closed_event(2, 1.0)) == "stored"  # replays 2 first, then stores
    assert writer.pending() == 0
    assert len(memory.bot("bot-a").trades.events()) == 3


def test_bad_journal_lines_are_set_aside_not_lost(redis_server, settings, tmp_path) -> None:
    memory = _memory(redis_server.url, settings)
    writer = JournaledTradeWriter(memory, tmp_path / "journal")
    good = closed_event(9, 1.0)
    writer.path.write_text('{"bot_id": "bot-a", "oops": 1}\n' + good.model_dump_json() + "\n")
    assert writer.replay() == 2
    assert [t.trade_id for t in memory.bot("bot-a").closed_trades()] == ["9"]
    (rejected,) = writer.rejected_path.read_text().splitlines()
    assert json.loads(rejected)["line"] == '{"bot_id": "bot-a", "oops": 1}'
    assert "invalid trade event" in json.loads(rejected)["reason"]


def test_embedded_redis_when_no_url_is_set(tmp_path) -> None:
    path = tmp_path / "user_data" / "redis" / "context.db"  # parents do not exist yet
    settings = Settings(redis_url=None, embedded_redis_path=path)
    client = connect(settings)
    Memory(client, Keyspace(), settings).bot("bot-a").record_trade_event(closed_event(1, 2.0))
    assert path.parent.is_dir()
    client.shutdown(save=True)  # the embedded server stops; its file stays

    reopened = connect(settings)
    try:
        assert Memory(reopened, Keyspace(), settings).bot("bot-a").stats().net_pnl == 2.0
    finally:
        reopened.shutdown(save=True)
