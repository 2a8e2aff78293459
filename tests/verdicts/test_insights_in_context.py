"""Closed trades teach later verdicts: insights reach the bot's context, point in time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from context_service.memory.models import TradeEvent
from verdicts.support import T0


def _closed(i: int, pair: str, profit: float) -> TradeEvent:
    opened = T0 + timedelta(hours=2 * i)
    return TradeEvent(
        bot_id="bot-1",
        trade_id=i,
        order_id="close",
        event="trade_closed",
        pair=pair,
        side="sell",
        time=opened + timedelta(hours=1),
        price=1.0,
        amount=10.0,
        stake=10.0,
        fee_quote=0.02,
        realized_profit=profit,
        open_time=opened,
        close_time=opened + timedelta(hours=1),
        exit_reason="stop_loss" if profit < 0 else "roi",
        confidence=0.8,
    )


@pytest.mark.parametrize("evidence_store", ["redis", "memory"])
def test_a_losing_pair_becomes_an_insight_from_the_close_that_proved_it(
    make_service, evidence_store
):
    service = make_service(llm=False, verdict_provider="rules", evidence_store=evidence_store)
    events = [_closed(i, "DOGE/USDT", -0.5) for i in range(10)]
    events += [_closed(10 + i, "BTC/USDT", 0.4) for i in range(10)]
    for event in events:
        assert service.record_trade_event(event)
    assert not service.record_trade_event(events[0])  # replay: nothing new, nothing recomputed

    tenth_doge_close = events[9].time
    before = service.synthesize("bot-1", 1500, as_of=tenth_doge_close - timedelta(minutes=1))
    after = service.synthesize("bot-1", 1500, as_of=tenth_doge_close)
    memory_lane = [e for e in after.manifest.entries if e.lane == "memory"]
    assert any("DOGE" in entry.id for entry in memory_lane)
    assert not any(e.lane == "memory" and e.outcome == "included" for e in before.manifest.entries)
    assert "## memory" in after.text and "DOGE/USDT" in after.text.split("## memory")[1]
