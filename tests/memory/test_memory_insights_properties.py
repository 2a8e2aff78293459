"""Insights never leak the future: what the full history dates at T is what T itself knew."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from context_service.memory import ClosedTrade, InsightRules, detect_insights

from .conftest import T0, closed_event

RULES = InsightRules(min_trades=3)

histories = st.lists(
    st.tuples(
        st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 3.0]),
        st.sampled_from(["BTC/USDT", "DOGE/USDT"]),
        st.sampled_from(["roi", "stop_loss"]),
        st.sampled_from([None, 0.55, 0.65, 0.9]),
        st.integers(0, 3),  # entry hour: few values, so hour patterns appear
        st.integers(1, 90),  # minutes since the previous close (ties impossible)
    ),
    max_size=40,
)


def _trades(specs) -> list[ClosedTrade]:
    trades, close = [], T0
    for n, (profit, pair, reason, confidence, hour, gap) in enumerate(specs, start=1):
        close = close + timedelta(minutes=gap)
        opened = close.replace(hour=hour, minute=0)  # entry hour: ``hour`` UTC
        if opened > close:
            opened -= timedelta(days=1)
        trades.append(
            ClosedTrade.from_event(
                closed_event(
                    n,
                    profit,
                    pair=pair,
                    exit_reason=reason,
                    confidence=confidence,
                    close=close,
                    open_=opened,
                )
            )
        )
    return trades


@settings(max_examples=120, deadline=None)
@given(histories)
def test_an_insight_visible_at_t_is_what_t_knew(specs) -> None:
    trades = _trades(specs)
    full = detect_insights(trades, "bot-a", RULES)
    for k, trade in enumerate(trades, start=1):
        moment = trade.close_time
        known_then = {i.id: i for i in detect_insights(trades[:k], "bot-a", RULES)}
        for insight in full:
            if insight.visible_at(moment):
                then = known_then.get(insight.id)
                assert then is not None and then.valid_until is None, insight.id
                assert (then.summary, then.metrics, then.observed_at) == (
                    insight.summary,
                    insight.metrics,
                    insight.observed_at,
                )
