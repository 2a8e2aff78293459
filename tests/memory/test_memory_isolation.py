"""Isolation: one bot can neither see nor touch another bot's memory."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from context_service.keys import InvalidBotId, Keyspace
from context_service.memory import Memory
from context_service.models import Evidence

from .conftest import T0, closed_event, fill_event


def _keys_of(client: redis.Redis, keyspace: Keyspace, bot_id: str) -> set[str]:
    return set(client.scan_iter(match=keyspace.bot(bot_id).pattern, count=1000))


def _use(memory: Memory, bot_id: str) -> None:
    bot = memory.bot(bot_id)
    bot.record_trade_event(fill_event(1, bot_id=bot_id, confidence=0.7))
    bot.record_trade_event(closed_event(1, 2.0, bot_id=bot_id))
    bot.record_llm_cost(T0, 0.01, "v-1")
    bot.evidence.upsert(
        Evidence(id="n-1", summary=bot_id, provenance={"source": "t"}, observed_at=T0)
    )
    bot.audit.append("verdict", {"bot": bot_id}, at=T0)


def test_two_bots_do_not_see_each_other(memory: Memory, redis_client, keyspace) -> None:
    _use(memory, "bot-a")
    keys_a = _keys_of(redis_client, keyspace, "bot-a")
    snapshot_a = {k: redis_client.dump(k) for k in keys_a}
    _use(memory, "bot-b")
    memory.bot("bot-b").record_trade_event(closed_event(2, -5.0, bot_id="bot-b"))
    memory.bot("bot-b").evidence.delete("n-1")

    a, b = memory.bot("bot-a"), memory.bot("bot-b")
    assert a.stats().trades == 1 and b.stats().trades == 2
    assert a.evidence.get("n-1").summary == "bot-a" and b.evidence.get("n-1") is None
    assert [e.payload["bot"] for e in a.audit.query()] == ["bot-a"]
    # bot-b's writes did not change a single byte of bot-a's keys...
    assert {k: redis_client.dump(k) for k in keys_a} == snapshot_a
    # ...and every key of the deployment belongs to exactly one bot (or the bot registry).
    all_keys = set(redis_client.scan_iter(match=keyspace.pattern, count=1000))
    keys_b = _keys_of(redis_client, keyspace, "bot-b")
    assert keys_a.isdisjoint(keys_b)
    assert all_keys == keys_a | keys_b | {keyspace.bots}
    assert all("{bot-a}" in k for k in keys_a) and all("{bot-b}" in k for k in keys_b)
    assert memory.bot_ids() == ["bot-a", "bot-b"]


@pytest.mark.parametrize(
    "bad", ["", "Bot-A", "bot_a", "-bot", "bot-a}:x", "bot-b}", "a" * 33, "bot a", "*"]
)
def test_bad_bot_ids_are_refused_before_any_key_is_built(memory: Memory, bad: str) -> None:
    with pytest.raises(InvalidBotId, match="invalid bot id"):
        memory.bot(bad)


def test_ids_inside_a_bot_cannot_escape_its_keys(memory: Memory, redis_client, keyspace):
    bot = memory.bot("bot-a")
    # Object ids and order ids end up as hash fields, never as key names.
    bot.evidence.upsert(
        Evidence(id="ctx:bot-b:objects", summary="s", provenance={"source": "t"}, observed_at=T0)
    )
    bot.record_trade_event(fill_event(1, order_id="}{bot-b}:trades:events"))
    assert _keys_of(redis_client, keyspace, "bot-b") == set()
    assert memory.bot("bot-b").evidence.get("ctx:bot-b:objects") is None
    assert bot.stats(T0 + timedelta(days=1)).trades == 0
