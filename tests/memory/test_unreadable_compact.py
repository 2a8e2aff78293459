"""Compact trade records that no longer decode are skipped, logged and counted, never fatal.

What an older version (or a hand edit) could leave in Redis: a NaN in a closed trade, a fill
dated in year 4000, broken JSON, a field name without its parts, inherited verdict fields of the
wrong type. Reads keep working for everything else, and the next good write still goes through.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from context_service.memory import Memory, detect_insights, unreadable
from context_service.memory.insights import InsightRules
from context_service.memory.trade_codec import (
    FIELDS,
    UnreadableRecord,
    decode_close_event,
    decode_closed,
    decode_fill,
)

from .conftest import T0, closed_event, fill_event

YEAR_4000 = 64_060_588_800  # 4000-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("1:e:ord-1", '["BTC/USDT",0,NaN,100,1]'),  # JSON's NaN
        ("1:e:ord-1", f'["BTC/USDT",0,{YEAR_4000},100,1]'),  # outside the time window
        ("1:e:ord-1", '["BTC/USDT",0,1714745100,-5,1]'),  # a negative price
        ("1:e:ord-1", '["BTC/USDT",7,1714745100,100,1]'),  # no such side
        ("1:e:ord-1", '["BTC/USDT",0,"yesterday",100,1]'),  # a time of the wrong type
        ("1:e:ord-1", '["BTC/USDT",0,1e300,100,1]'),  # a time no datetime can hold
        ("1:q:ord-1", '["BTC/USDT",0,1714745100,100,1]'),  # an unknown fill code
        ("no-colons", '["BTC/USDT",0,1714745100,100,1]'),  # a field without its parts
        ("1:e:ord-1", "[1,2"),  # cut off
        ("1:e:ord-1", '{"bot_id": "bot-a"}'),  # an earlier version's event, incomplete
    ],
)
def test_every_way_a_stored_fill_is_wrong_is_one_error(field: str, raw: str) -> None:
    with pytest.raises(UnreadableRecord):
        decode_fill("bot-a", field, raw)


@pytest.mark.parametrize(
    "raw",
    [
        '["close","BTC/USDT",1,1714748400,100,1,50,0.1,NaN,1714744800]',
        '["close","BTC/USDT",1,1714748400,100,1,50,0.1,Infinity,1714744800]',
        '"just a string"',
        "[]",
        '["close","BTC/USDT",1]',  # no time, no open time
    ],
)
def test_every_way_a_stored_close_is_wrong_is_one_error(raw: str) -> None:
    with pytest.raises(UnreadableRecord):
        decode_closed("1", raw)
    with pytest.raises(UnreadableRecord):
        decode_close_event("bot-a", "1", raw)


def _stored_close(memory: Memory, trade_id: int, **extra) -> str:
    """Record a close and return its stored text."""
    bot = memory.bot("bot-a")
    assert bot.record_trade_event(closed_event(trade_id, 1.0, **extra))
    return memory.client.hget(memory.keyspace.bot("bot-a").closed_trades, str(trade_id))


def test_a_closed_trade_with_nan_is_skipped_and_counted(memory: Memory) -> None:
    bot, keys = memory.bot("bot-a"), memory.keyspace.bot("bot-a")
    good = _stored_close(memory, 1)
    text = _stored_close(memory, 2)
    values = json.loads(text.split("\n")[0])
    values[1 + FIELDS.index("realized_profit")] = float("nan")
    memory.client.hset(keys.closed_trades, "2", json.dumps(values))  # writes NaN
    assert bot.record_trade_event(fill_event(3))
    before = unreadable.counts()

    assert [t.trade_id for t in bot.closed_trades()] == ["1"]
    assert bot.stats().trades == 1
    events = bot.trades.events()
    assert [(e.trade_id, e.event) for e in events] == [(1, "trade_closed"), (3, "entry_fill")]
    after = unreadable.counts()
    assert after["closed_trade"] >= before.get("closed_trade", 0) + 2  # stats read it again
    assert after["trade_event"] == before.get("trade_event", 0) + 1
    # the next good write still goes through, and the good record is untouched
    assert bot.record_trade_event(closed_event(4, -0.5))
    assert [t.trade_id for t in bot.closed_trades()] == ["1", "4"]
    assert memory.client.hget(keys.closed_trades, "1") == good


def test_unreadable_inherited_verdict_fields_leave_the_trade_without_them(memory: Memory) -> None:
    bot, keys = memory.bot("bot-a"), memory.keyspace.bot("bot-a")
    assert bot.record_trade_event(fill_event(1, verdict_id="v-1", confidence=0.7))
    text = _stored_close(memory, 1)
    head, _, inherited = text.partition("\n")
    assert '"v-1"' in inherited
    before = unreadable.counts().get("trade_entry", 0)
    for bad_tail in ['{"confidence": "very"}', '{"verdict_id": 5', '["v-1"]']:
        memory.client.hset(keys.closed_trades, "1", f"{head}\n{bad_tail}")
        (trade,) = bot.closed_trades()
        assert trade.trade_id == "1" and trade.net_profit == 1.0
        assert trade.verdict_id is None and trade.confidence is None
        (close,) = [e for e in bot.trades.events() if e.event == "trade_closed"]
        assert close.realized_profit == 1.0  # the event itself never needed them
    assert unreadable.counts()["trade_entry"] == before + 3


def test_replaying_a_close_over_an_unreadable_record_replaces_it(memory: Memory) -> None:
    bot, keys = memory.bot("bot-a"), memory.keyspace.bot("bot-a")
    _stored_close(memory, 1)
    memory.client.hset(keys.closed_trades, "1", "[broken")
    assert bot.closed_trades() == []
    assert bot.record_trade_event(closed_event(1, 2.5))  # no script error: a rewrite
    (trade,) = bot.closed_trades()
    assert trade.net_profit == 2.5


def test_incremental_insights_skip_an_unreadable_trade_without_starting_over(
    memory: Memory,
) -> None:
    bot, keys = memory.bot("bot-a"), memory.keyspace.bot("bot-a")
    bot.insight_rules = InsightRules(min_trades=2)
    for trade_id in range(1, 6):
        bot.record_trade_event(closed_event(trade_id, -1.0 if trade_id % 2 else 2.0))
    memory.client.hset(keys.closed_trades, "3", "[NaN")
    assert bot.insights() == detect_insights(bot.closed_trades(), "bot-a", bot.insight_rules)
    rebuilds = bot.insight_feed.rebuilds
    for trade_id in range(6, 10):
        bot.record_trade_event(closed_event(trade_id, -1.0))
        moment = T0 + timedelta(hours=trade_id)
        expected = detect_insights(bot.trades.closed_trades(moment), "bot-a", bot.insight_rules)
        assert bot.insights(moment) == expected
    assert bot.insight_feed.rebuilds == rebuilds  # the skipped record counts as read


def test_an_llm_cost_that_is_not_a_number_is_skipped(memory: Memory) -> None:
    bot, keys = memory.bot("bot-a"), memory.keyspace.bot("bot-a")
    assert bot.trades.record_llm_cost(T0, 0.25, "v-1")
    for verdict_id, raw in [("v-2", "nan"), ("v-3", "-1"), ("v-4", "lots"), ("v-5", "inf")]:
        memory.client.hset(keys.llm_costs, verdict_id, raw)
        memory.client.zadd(keys.llm_costs_by_time, {verdict_id: T0.timestamp()})
    assert bot.trades.llm_cost() == 0.25
    assert bot.trades.llm_cost(T0) == 0.25
    assert bot.stats().llm_cost == 0.25
