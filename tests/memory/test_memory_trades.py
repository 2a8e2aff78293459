"""Trade memory: idempotent events, closed trades, LLM cost record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from context_service.memory import Memory, TradeEvent

from .conftest import T0, closed_event, fill_event


def test_replaying_the_same_events_changes_nothing(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    events = [fill_event(1), fill_event(1, "exit_fill"), closed_event(1, 2.5)]
    assert [bot.record_trade_event(e) for e in events] == [True, True, True]
    before = bot.stats().model_dump()
    assert [bot.record_trade_event(e) for e in events] == [False, False, False]
    assert bot.stats().model_dump() == before
    assert len(bot.trades.events()) == 3
    assert len(bot.closed_trades()) == 1


def test_a_duplicate_with_different_content_does_not_overwrite(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    assert bot.record_trade_event(closed_event(7, 1.0))
    assert not bot.record_trade_event(closed_event(7, -99.0))
    assert bot.closed_trades()[0].net_profit == 1.0


def test_same_trade_different_orders_are_distinct(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    assert bot.record_trade_event(fill_event(3, "exit_fill", order_id="part-1"))
    assert bot.record_trade_event(fill_event(3, "exit_fill", order_id="part-2"))
    # An order id may itself contain ':' (dry-run ids do): still one identity per order.
    assert bot.record_trade_event(fill_event(3, "exit_fill", order_id="dry:BTC/USDT:1"))
    assert len(bot.trades.events()) == 3


def test_closed_trade_takes_verdict_fields_from_its_entry_fill(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.record_trade_event(fill_event(5, verdict_id="v-5", confidence=0.82, manifest_id="m-5"))
    bot.record_trade_event(closed_event(5, -1.0, fee=0.2))
    (trade,) = bot.closed_trades()
    assert (trade.verdict_id, trade.confidence, trade.manifest_id) == ("v-5", 0.82, "m-5")
    assert trade.gross_profit == pytest.approx(-0.8)
    assert trade.trade_id == "5"


def test_an_event_for_another_bot_is_refused(memory: Memory) -> None:
    with pytest.raises(ValueError, match="cannot be written to bot 'bot-a'"):
        memory.bot("bot-a").record_trade_event(closed_event(1, 1.0, bot_id="bot-b"))
    assert memory.bot("bot-b").closed_trades() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"time": T0.replace(tzinfo=None)}, "timezone"),
        ({"bot_id": "Bot_A"}, "invalid bot id"),
        ({"order_id": "has space"}, "without whitespace"),
        ({"trade_id": "a:b"}, "trade_id"),
        ({"realized_profit": None}, "needs realized_profit"),
        ({"open_time": T0 + timedelta(days=30)}, "open_time is later"),
        ({"confidence": 1.5}, "less than or equal to 1"),
    ],
)
def test_bad_events_are_refused_with_a_clear_message(overrides: dict, message: str) -> None:
    data = closed_event(1, 1.0).model_dump() | overrides
    with pytest.raises(ValidationError, match=message):
        TradeEvent.model_validate(data)


def test_llm_cost_is_recorded_once_per_verdict_and_as_of(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.record_llm_cost(T0, 0.002, "v-1")
    bot.record_llm_cost(T0, 0.002, "v-1")  # a retry of the same verdict is not double-counted
    bot.record_llm_cost(T0 + timedelta(hours=2), 0.003, "v-2")
    assert bot.trades.llm_cost() == pytest.approx(0.005)
    assert bot.trades.llm_cost(T0 + timedelta(hours=1)) == pytest.approx(0.002)
    with pytest.raises(ValueError, match="timezone"):
        bot.record_llm_cost(T0.replace(tzinfo=None), 0.1, "v-3")
    with pytest.raises(ValueError, match="non-negative"):
        bot.record_llm_cost(T0, -1, "v-3")
