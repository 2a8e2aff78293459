"""Compact trade records: exact round trip, earlier records still read, incremental insights,
and replica acknowledgement (WAIT) of trade events."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from context_service.memory import JournaledTradeWriter, Memory, detect_insights
from context_service.memory.insights import InsightRules
from context_service.memory.trades import ReplicationTimeout, TradeMemory
from context_service.settings import Settings

from .conftest import T0, closed_event, fill_event


def test_events_come_back_exactly_as_recorded(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    recorded = [
        fill_event(1, verdict_id="v-1", confidence=0.71, manifest_id="m", context_hash="h"),
        fill_event(1, "exit_fill", order_id="dry:BTC/USDT:1", realized_profit=1.25),
        closed_event(1, 1.25, exit_reason='roi \u2013 \u00e9t\u00e9 "q"\n'),
        fill_event(2, price=0.000012345678901, amount=123456789.123456789),
    ]
    for event in recorded:
        assert bot.record_trade_event(event)
    assert sorted(bot.trades.events(), key=lambda e: e.key) == sorted(recorded, key=lambda e: e.key)
    (trade,) = bot.closed_trades()
    assert (trade.verdict_id, trade.confidence, trade.context_hash) == ("v-1", 0.71, "h")
    # the entry's verdict fields moved into the closed record: nothing left for the open index
    assert not memory.client.hexists(memory.keyspace.bot("bot-a").trade_entries, "1")


def test_a_second_close_of_a_trade_with_another_order_replaces_it(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.record_trade_event(fill_event(4, verdict_id="v-4"))
    assert bot.record_trade_event(closed_event(4, 1.0))
    second = closed_event(4, 2.0).model_copy(update={"order_id": "close-2"})
    assert bot.record_trade_event(second)
    (trade,) = bot.closed_trades()
    assert trade.net_profit == 2.0 and trade.verdict_id == "v-4"  # inherited fields kept


def test_records_written_by_the_earlier_version_are_read(memory: Memory) -> None:
    keys = memory.keyspace.bot("bot-a")
    legacy_close = closed_event(9, -0.5)
    memory.client.hset(keys.trade_events, legacy_close.key, legacy_close.model_dump_json())
    closed = {
        "trade_id": "9",
        "pair": "BTC/USDT",
        "open_time": (T0 + timedelta(hours=8)).isoformat(),
        "close_time": (T0 + timedelta(hours=9)).isoformat(),
        "stake": 50.0,
        "net_profit": -0.5,
        "fees": 0.1,
    }
    memory.client.hset(keys.closed_trades, "9", json.dumps(closed))
    memory.client.zadd(keys.closed_trades_by_time, {"9": (T0 + timedelta(hours=9)).timestamp()})
    bot = memory.bot("bot-a")
    assert bot.stats().net_pnl == -0.5
    assert [e.key for e in bot.trades.events()] == [legacy_close.key]
    assert not bot.record_trade_event(legacy_close)  # a replay of it is still a duplicate


def _random_closes(rng: random.Random, count: int) -> list:
    pairs = ["BTC/USDT", "SOL/USDT", "DOGE/USDT"]
    return [
        closed_event(
            n,
            round(rng.gauss(-0.1, 1.0), 3),
            pair=rng.choice(pairs),
            close=T0 + timedelta(minutes=30 * n + rng.choice([0, 0, 5])),
            exit_reason=rng.choice(["roi", "stop_loss"]),
            confidence=rng.choice([None, 0.55, 0.9]),
        )
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_insights_equal_a_full_recount_after_every_close(
    memory: Memory, seed: int
) -> None:
    rng = random.Random(seed)
    bot = memory.bot("bot-a")
    bot.insight_rules = InsightRules(min_trades=4)
    events = _random_closes(rng, 40)
    # a few trades reach memory late (a journal replay), after later ones
    late = set(rng.sample(range(5, 40), 3))
    order = [e for i, e in enumerate(events) if i not in late] + [events[i] for i in late]
    read_sizes: list[int] = []
    reader = bot.trades.closed_by_ids

    def counting_reader(ids, *rest):
        read_sizes.append(len(ids))
        return reader(ids, *rest)

    bot.trades.closed_by_ids = counting_reader  # type: ignore[method-assign]
    recount = TradeMemory(memory.client, memory.keyspace.bot("bot-a"))
    for event in order:
        bot.record_trade_event(event)
        moment = event.time
        full = detect_insights(recount.closed_trades(moment), "bot-a", bot.insight_rules)
        assert bot.insights(moment) == full
    # a late trade is an earlier moment (answered from scratch); the next query at the present
    # finds the count off and starts over once
    assert bot.insight_feed.rebuilds == 0
    assert bot.insights() == detect_insights(recount.closed_trades(), "bot-a", bot.insight_rules)
    assert bot.insight_feed.rebuilds == 1
    # every other refresh read the trade closed since the previous refresh and the previous
    # one (same close time possible), no more
    assert sum(1 for n in read_sizes if n <= 2) >= len(order) - 2 * len(late) - 1
    assert max(read_sizes) <= len(order)


def test_an_earlier_moment_is_answered_from_scratch(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.insight_rules = InsightRules(min_trades=2)
    for event in _random_closes(random.Random(5), 12):
        bot.record_trade_event(event)
    late = bot.insights()
    early_moment = T0 + timedelta(hours=2)
    early = bot.insights(early_moment)
    assert early == detect_insights(
        bot.trades.closed_trades(early_moment), "bot-a", bot.insight_rules
    )
    assert bot.insights() == late


def test_without_the_replicas_asked_for_an_event_stays_in_the_journal(
    memory: Memory, tmp_path
) -> None:
    """The test server has no replica: WAIT 1 times out, so the event is not acknowledged."""
    keys = memory.keyspace.bot("bot-a")
    trades = TradeMemory(memory.client, keys, wait_replicas=1, wait_timeout_ms=50)
    with pytest.raises(ReplicationTimeout, match="0 of 1 replicas"):
        trades.record(fill_event(1))
    writer = JournaledTradeWriter(trades.record, journal_dir=tmp_path)
    assert writer.record(fill_event(2)) == "journaled" and writer.pending() == 1
    trades.wait_replicas = 0  # as if the replica were back
    assert writer.replay() == 1 and writer.pending() == 0
    assert Settings(_env_file=None).redis_wait_replicas == 0
