"""Fills and closed trades reach trade memory with the verdict that opened the trade."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx
from freqtrade.persistence import Order

from context_service.client.base import ContextUnavailable
from context_service.client.http import HttpContextClient
from context_service.client.inprocess import InProcessContextClient
from context_service.memory.models import TradeEvent
from context_service.verdicts.models import Action
from strategy.conftest import ASK, SIDECAR, load_strategy, open_trade, strategy_config
from strategy.helpers import CANDLE, PAIR, make_order, ta_row, verdict_json

NOW = CANDLE + timedelta(hours=1, minutes=3)


def exit_order(trade, price: float) -> Order:
    order = make_order(
        pair=trade.pair,
        side="sell",
        amount=trade.amount,
        filled=trade.amount,
        price=price,
        when=NOW,
        order_id="exit-1",
        trade_id=trade.id,
    )
    trade.orders.append(order)
    return order


def test_entry_exit_and_close_events_carry_the_verdict(sidecar_settings, no_db) -> None:
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True})
        router.post(ASK).respond(200, json=verdict_json(action=Action.buy))
        events = router.post("/v1/trades/events").respond(201, json={"recorded": True})
        strategy = load_strategy(strategy_config())
        strategy.bot_start()
        strategy.state.set_candidates(PAIR, "entry", {int(CANDLE.timestamp()): ta_row()})
        strategy.bot_loop_start(current_time=NOW)
        assert strategy.confirm_trade_entry(
            PAIR, "limit", 0.0008, 40_000.0, "GTC", NOW, None, "long"
        )
        trade = open_trade(PAIR, 40_000.0, 0.0008, NOW, filled=0.0008)
        strategy.order_filled(PAIR, trade, trade.orders[0], NOW)
        later = NOW + timedelta(hours=5)
        strategy.order_filled(PAIR, trade, exit_order(trade, 42_000.0), later)

    sent = [json.loads(call.request.content) for call in events.calls]
    assert [e["event"] for e in sent] == ["entry_fill", "exit_fill", "trade_closed"]
    verdict_id = verdict_json()["verdict_id"]
    assert all(e["verdict_id"] == verdict_id for e in sent)
    closed = sent[-1]
    gross = 0.0008 * (42_000 - 40_000)
    fees = 0.0008 * 40_000 * 0.001 + 0.0008 * 42_000 * 0.001
    assert closed["realized_profit"] == pytest.approx(gross - fees, rel=1e-3)
    assert closed["fee_quote"] == pytest.approx(fees, rel=1e-6)
    assert closed["order_id"] == "close" and closed["trade_id"] == trade.id
    # the daily ledger saw the realized profit
    assert strategy.ctx.daily.realized[later.date()] == pytest.approx(gross - fees, rel=1e-3)
    assert strategy.ctx.stats.memory_events == 3


def test_trade_events_wait_in_a_journal_while_the_sidecar_is_down(sidecar_settings, no_db) -> None:
    sidecar_up = False
    stored: list[dict] = []

    def trade_events(request: httpx.Request) -> httpx.Response:
        if not sidecar_up:
            raise httpx.ConnectError("connection refused")
        stored.append(json.loads(request.content))
        return httpx.Response(201, json={"stored": True, "duplicate": False})

    journal = sidecar_settings.journal_dir / "bot-1" / "trade-events.jsonl"
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True})
        router.post("/v1/trades/events").mock(side_effect=trade_events)
        strategy = load_strategy(strategy_config())
        strategy.bot_start()
        trade = open_trade(PAIR, 40_000.0, 0.0008, NOW, filled=0.0008)
        strategy.order_filled(PAIR, trade, trade.orders[0], NOW)  # must not raise
        assert len(journal.read_text().splitlines()) == 1  # kept, not lost

        sidecar_up = True
        strategy.ctx.client._journal.retry_after_s = 0  # the next fill comes minutes later
        strategy.order_filled(PAIR, trade, exit_order(trade, 42_000.0), NOW + timedelta(hours=5))

    # the journaled entry went first, then the exit and the close: memory sees them in order
    assert [e["event"] for e in stored] == ["entry_fill", "exit_fill", "trade_closed"]
    assert not journal.exists()
    assert strategy.ctx.stats.memory_failures == 0


def event() -> TradeEvent:
    return TradeEvent(
        bot_id="bot-1",
        trade_id=1,
        order_id="o1",
        event="entry_fill",
        pair=PAIR,
        side="buy",
        time=NOW,
        price=1.0,
        amount=1.0,
    )


@respx.mock(base_url=SIDECAR)
def test_http_client_trade_events_report_failure_as_false(respx_mock) -> None:
    client = HttpContextClient(SIDECAR)
    respx_mock.post("/v1/trades/events").mock(
        side_effect=[httpx.Response(202), httpx.Response(500), httpx.ReadTimeout("slow")]
    )
    assert client.record_trade_event(event()) is True
    assert client.record_trade_event(event()) is False
    assert client.record_trade_event(event()) is False


def test_in_process_client_turns_engine_errors_into_unavailable() -> None:
    class Broken:
        def decide(self, request, providers=None):
            raise RuntimeError("redis went away")

        def record_trade_event(self, event):
            raise RuntimeError("redis went away")

    client = InProcessContextClient(Broken())
    with pytest.raises(ContextUnavailable, match="redis went away"):
        client.decide(None)  # type: ignore[arg-type]
    assert client.record_trade_event(event()) is False
    assert InProcessContextClient(Broken(), record_memory=False).record_trade_event(event())


def test_verdict_markers_for_frequi(sidecar_settings, no_db) -> None:
    import pandas as pd

    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True})
        router.post(ASK).respond(200, json=verdict_json(confidence=0.77))
        strategy = load_strategy(strategy_config())
        strategy.bot_start()
        strategy.state.set_candidates(PAIR, "entry", {int(CANDLE.timestamp()): ta_row()})
        strategy.bot_loop_start(current_time=NOW)
    dates = pd.date_range(CANDLE - timedelta(hours=2), periods=4, freq="1h", tz="UTC")
    frame = pd.DataFrame(
        {"date": dates, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
    )
    frame = strategy.populate_indicators(frame, {"pair": PAIR})
    marked = frame.loc[frame["date"] == pd.Timestamp(CANDLE), "verdict_buy"]
    assert marked.iloc[0] == pytest.approx(0.77)
    assert frame["verdict_buy"].notna().sum() == 1
    assert "Verdicts" in strategy.plot_config["subplots"]
