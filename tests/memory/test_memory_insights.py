"""Insights: found with enough evidence, dated when they became true, upserted under stable ids."""

from __future__ import annotations

from datetime import timedelta

from context_service.memory import ClosedTrade, InsightRules, Memory, detect_insights

from .conftest import T0, closed_event


def _trades(*specs) -> list[ClosedTrade]:
    """specs: (profit, pair[, confidence[, exit_reason]]) in close order, one per hour."""
    trades = []
    for n, spec in enumerate(specs, start=1):
        profit, pair, *rest = spec
        confidence = rest[0] if rest else None
        reason = rest[1] if len(rest) > 1 else "roi"
        trades.append(
            ClosedTrade.from_event(
                closed_event(n, profit, pair=pair, confidence=confidence, exit_reason=reason)
            )
        )
    return trades


RULES = InsightRules(min_trades=5)


def _ids(insights) -> set[str]:
    return {i.id for i in insights}


def test_no_insight_below_the_minimum_sample() -> None:
    trades = _trades(*[(-1.0, "DOGE/USDT")] * 4)
    assert detect_insights(trades, "bot-a", RULES) == []


def test_poor_pair_is_dated_at_the_close_that_made_it_true() -> None:
    # DOGE: 1 win then losses; the 5th DOGE trade reaches the minimum sample.
    trades = _trades(
        (2.0, "DOGE/USDT"),
        (-1.0, "DOGE/USDT"),
        (1.0, "BTC/USDT"),
        (-1.0, "DOGE/USDT"),
        (-1.0, "DOGE/USDT"),
        (-1.0, "DOGE/USDT"),
        (-1.0, "DOGE/USDT"),
    )
    found = {i.id: i for i in detect_insights(trades, "bot-a", RULES)}
    insight = found["insight:pair:DOGE-USDT:poor-record"]
    assert insight.observed_at == trades[5].close_time  # 5th DOGE trade
    assert insight.valid_until is None
    assert insight.tags == {"category": "memory", "pattern": "pair", "pair": "DOGE/USDT"}
    # numbers of the moment it became true, never from its future
    assert insight.metrics["trades"] == 5
    assert "1 wins in 5 trades" in insight.summary
    assert "insight:pair:BTC-USDT:poor-record" not in found


def test_an_insight_that_stops_holding_gets_valid_until() -> None:
    losses = [(-1.0, "XRP/USDT")] * 5
    wins = [(3.0, "XRP/USDT")] * 2  # the second win turns net PnL positive: no longer poor
    trades = _trades(*losses, *wins)
    found = {i.id: i for i in detect_insights(trades, "bot-a", RULES)}
    insight = found["insight:pair:XRP-USDT:poor-record"]
    assert insight.observed_at == trades[4].close_time
    assert insight.valid_until == trades[6].close_time
    assert insight.visible_at(trades[5].close_time)
    assert not insight.visible_at(trades[6].close_time)
    # all losses went out via "roi", which therefore still dominates the losses
    assert found["insight:exit-reason:roi:dominates-losses"].valid_until is None


def test_low_confidence_underperforming_and_exit_reason_dominating() -> None:
    specs = []
    for _ in range(5):
        specs.append((-2.0, "BTC/USDT", 0.62, "stop_loss"))
        specs.append((1.5, "SOL/USDT", 0.9, "roi"))
    found = _ids(detect_insights(_trades(*specs), "bot-a", RULES))
    assert "insight:confidence:low:underperforming" in found
    assert "insight:exit-reason:stop_loss:dominates-losses" in found
    assert "insight:pair:BTC-USDT:poor-record" in found
    # entry hours spread across the day: no hour reaches 5 trades
    assert not any(i.startswith("insight:hour:") for i in found)


def test_refresh_writes_memory_lane_objects_and_reruns_upsert(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    for n in range(1, 13):
        bot.record_trade_event(closed_event(n, -1.0, pair="DOGE/USDT"))
    bot.insight_rules = RULES
    first = bot.refresh_insights(now=T0 + timedelta(days=1))
    assert "insight:pair:DOGE-USDT:poor-record" in _ids(first)
    again = bot.refresh_insights(now=T0 + timedelta(days=2))
    assert _ids(again) == _ids(first)
    stored = [o for o in bot.evidence.all() if o.kind == "insight"]
    assert len(stored) == len(first)  # upserted, not duplicated
    insight = bot.evidence.get("insight:pair:DOGE-USDT:poor-record")
    assert insight.created_at == T0 + timedelta(days=1)
    assert insight.updated_at == T0 + timedelta(days=2)
    # A backtest asking as of before the 5th trade closed does not see it yet.
    early = T0 + timedelta(hours=4, minutes=59)
    assert insight.id not in _ids(bot.evidence.visible(early))
    assert insight.id in _ids(bot.evidence.visible(T0 + timedelta(hours=5)))


def test_refresh_as_of_the_past_ignores_later_trades(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.insight_rules = RULES
    for n in range(1, 13):
        bot.record_trade_event(closed_event(n, -1.0, pair="DOGE/USDT"))
    assert bot.refresh_insights(now=T0 + timedelta(hours=4)) == []
