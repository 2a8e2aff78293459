"""Invariants of the statistics over arbitrary trade sequences (pure, no Redis)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from context_service.memory import ClosedTrade, compute_stats

from .conftest import T0, closed_event

trade_specs = st.lists(
    st.tuples(
        st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 4)),
        st.sampled_from(["BTC/USDT", "SOL/USDT", "DOGE/USDT"]),
        st.sampled_from(["roi", "stop_loss", "exit_signal"]),
        st.none() | st.floats(0, 1),
        st.integers(0, 23),
        st.floats(0, 1, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(trade_specs)
def test_stats_invariants(specs) -> None:
    trades = []
    for n, (profit, pair, reason, confidence, hour, fee) in enumerate(specs, start=1):
        close = T0 + timedelta(days=n, hours=hour)
        trades.append(
            ClosedTrade.from_event(
                closed_event(
                    n,
                    profit,
                    pair=pair,
                    exit_reason=reason,
                    confidence=confidence,
                    fee=fee,
                    close=close,
                )
            )
        )
    stats = compute_stats("bot-a", trades)
    assert stats.wins + stats.losses + stats.breakeven == stats.trades == len(specs)
    assert stats.net_pnl == pytest.approx(sum(s[0] for s in specs), abs=1e-6)
    assert stats.gross_pnl == pytest.approx(stats.net_pnl + stats.fees, abs=1e-6)
    for breakdown in (stats.by_pair, stats.by_hour, stats.by_exit_reason, stats.by_confidence):
        assert sum(g.trades for g in breakdown.values()) == stats.trades
        assert sum(g.net_pnl for g in breakdown.values()) == pytest.approx(stats.net_pnl, abs=1e-6)
    lost = -sum(s[0] for s in specs if s[0] < 0)
    assert 0 <= stats.max_drawdown <= lost + 1e-9
    if stats.trades:
        assert stats.expectancy == pytest.approx(stats.net_pnl / stats.trades)
    if stats.losses and stats.wins:
        assert stats.profit_factor == pytest.approx(
            stats.avg_win * stats.wins / (-stats.avg_loss * stats.losses)
        )
