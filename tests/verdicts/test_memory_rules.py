"""The memory-rules provider: the rules' verdict moved by the bot's own as-of record."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from context_service.memory.models import TradeEvent
from context_service.memory.trades import TradeMemory
from context_service.verdicts.models import Action
from context_service.verdicts.provider import Ask, provider_class
from context_service.verdicts.providers.memory_rules import MemoryRulesProvider
from context_service.verdicts.rules import RulesPolicy
from verdicts.support import T0, make_request

RULES = RulesPolicy()
DECISION_HOUR = 500  # the ask is about the candle T0 + 500h; its as_of is that time


def _close(service, trade_id, pair, closed: datetime, profit, reason="roi", confidence=0.8):
    event = TradeEvent(
        bot_id="bot-1",
        trade_id=trade_id,
        order_id="close",
        event="trade_closed",
        pair=pair,
        side="sell",
        time=closed,
        price=1.0,
        amount=10.0,
        stake=10.0,
        realized_profit=profit,
        open_time=closed - timedelta(hours=5),
        close_time=closed,
        exit_reason=reason,
        confidence=confidence,
    )
    assert service.components.memory.bot("bot-1").record_trade_event(event)


def _history(service, pair, wins, losses, start_hour=300, reason_of_losses="roi", loss=-0.5):
    """``wins`` then ``losses`` trades of ``pair``, one closing every 7 hours."""
    hour = start_hour
    for k in range(wins + losses):
        won = k < wins
        _close(
            service,
            f"{pair.split('/')[0]}-{start_hour}-{k}",
            pair,
            T0 + timedelta(hours=hour),
            0.4 if won else loss,
            reason="roi" if won else reason_of_losses,
        )
        hour += 7
    return hour


def _decide(service, pair="BTC/USDT", hour=DECISION_HOUR, candidate="entry"):
    provider = provider_class("memory-rules").build(service.components)
    request = make_request(hour, pair=pair, as_of=True, candidate=candidate)
    synthesis = service.synthesize("bot-1", as_of=request.as_of)
    return provider.decide(Ask(request, synthesis, request.as_of, {})), request


@pytest.fixture
def service(make_service):
    return make_service(llm=False, verdict_provider="rules")


def test_it_is_a_registered_provider(service) -> None:
    assert provider_class("memory-rules") is MemoryRulesProvider
    assert isinstance(MemoryRulesProvider.build(service.components), MemoryRulesProvider)


def test_with_too_few_trades_the_rules_verdict_stands(service) -> None:
    _history(service, "BTC/USDT", 3, 2)
    decision, request = _decide(service)
    rules = RULES.decide(request)
    assert decision.action is Action.buy
    assert decision.confidence == rules.confidence
    assert "5 closed trades, fewer than 8" in decision.rationale


def test_a_reliably_poor_pair_is_refused_and_the_statistic_named(service) -> None:
    _history(service, "BTC/USDT", 2, 10)
    decision, _ = _decide(service)
    assert decision.action is Action.hold
    assert "refused, record reliably poor: pair BTC/USDT: 12 trades" in decision.rationale
    assert "mean -" in decision.rationale


def test_a_pair_that_wins_more_than_the_bot_raises_confidence(service) -> None:
    _history(service, "SOL/USDT", 3, 9, start_hour=200)
    _history(service, "BTC/USDT", 10, 2)
    decision, request = _decide(service)
    rules = RULES.decide(request)
    assert decision.action is Action.buy
    assert decision.confidence > rules.confidence
    assert "+0.100 pair BTC/USDT: 12 trades" in decision.rationale


def test_a_pair_that_wins_less_than_the_bot_lowers_confidence(service) -> None:
    _history(service, "SOL/USDT", 11, 1, start_hour=200)
    _history(service, "BTC/USDT", 6, 6)  # loses on average, but not reliably poor
    decision, request = _decide(service)
    assert decision.action is Action.buy
    assert decision.confidence < RULES.decide(request).confidence
    assert "pair BTC/USDT: 12 trades, decayed win ratio" in decision.rationale
    assert decision.rationale.index("pair BTC/USDT") < decision.rationale.index("vs bot")


def test_a_pair_that_keeps_stopping_out_is_marked_down(service) -> None:
    _history(service, "SOL/USDT", 8, 4, start_hour=200)
    # small stop-losses: the pair still makes money, but it keeps stopping out
    _history(service, "BTC/USDT", 4, 8, reason_of_losses="stop_loss", loss=-0.1)
    decision, _ = _decide(service)
    assert decision.action is Action.buy
    assert re.search(r"-0\.\d+ stop-loss exits of BTC/USDT: 6\d% of its recent", decision.rationale)


def test_old_trades_weigh_less_than_recent_ones(service) -> None:
    # a poor record long ago, a good one lately: not refused
    _history(service, "BTC/USDT", 0, 12, start_hour=-4000)
    _history(service, "BTC/USDT", 10, 0, start_hour=300)
    decision, _ = _decide(service)
    assert decision.action is Action.buy


def test_holds_and_exits_are_the_rules_own(service) -> None:
    _history(service, "BTC/USDT", 2, 10)
    decision, request = _decide(service, candidate="exit")
    assert decision.rationale == RULES.decide(request).rationale
    hold_request = make_request(DECISION_HOUR, rsi=85.0, as_of=True)
    provider = MemoryRulesProvider.build(service.components)
    synthesis = service.synthesize("bot-1", as_of=hold_request.as_of)
    held = provider.decide(Ask(hold_request, synthesis, hold_request.as_of, {}))
    assert held.action is Action.hold and "judges only rules buys" in held.rationale


def test_never_reads_a_trade_closed_at_or_after_as_of(service, monkeypatch) -> None:
    _history(service, "SOL/USDT", 3, 9, start_hour=200)
    _history(service, "BTC/USDT", 10, 2, start_hour=300)
    as_of = T0 + timedelta(hours=DECISION_HOUR)
    before, _ = _decide(service)
    # the future: a disaster on BTC/USDT, one trade closing exactly at as_of
    _close(service, "at-as-of", "BTC/USDT", as_of, -5.0)
    for k in range(30):
        _close(service, f"future-{k}", "BTC/USDT", as_of + timedelta(hours=k + 1), -5.0)
    read: list[datetime] = []
    parse = TradeMemory._parse_closed

    def spy(self, *args):
        trade = parse(self, *args)
        read.append(trade.close_time)
        return trade

    monkeypatch.setattr(TradeMemory, "_parse_closed", spy)
    after, _ = _decide(service)
    assert read and max(read) < as_of
    assert (after.action, after.confidence, after.rationale) == (
        before.action,
        before.confidence,
        before.rationale,
    )
    # one candle later the trade closed at as_of is known and moves the decision
    later, _ = _decide(service, hour=DECISION_HOUR + 1)
    assert later.rationale != before.rationale


def test_the_chain_runs_it_by_name(service) -> None:
    _history(service, "BTC/USDT", 2, 10)
    provider = MemoryRulesProvider.build(service.components)
    request = make_request(DECISION_HOUR, as_of=True)
    synthesis = service.synthesize("bot-1", as_of=request.as_of)
    decision = provider.decide(Ask(request, synthesis, request.as_of, {}))
    assert decision.evidence_ids[0] == "ta:BTC/USDT:1h"
