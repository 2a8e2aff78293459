"""Decayed, point-in-time slice records of closed trades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from context_service.memory.models import ClosedTrade
from context_service.memory.record import (
    decay_weight,
    slice_record,
    trades_before,
    wilson_bounds,
)

AS_OF = datetime(2022, 6, 1, tzinfo=UTC)


def _trade(hours_before: float, profit: float) -> ClosedTrade:
    closed = AS_OF - timedelta(hours=hours_before)
    return ClosedTrade(
        trade_id=f"t{hours_before}",
        pair="BTC/USDT",
        open_time=closed - timedelta(hours=1),
        close_time=closed,
        stake=10.0,
        net_profit=profit,
        fees=0.02,
    )


def test_decay_halves_every_half_life() -> None:
    assert decay_weight(0, 24) == 1.0
    assert decay_weight(24, 24) == pytest.approx(0.5)
    assert decay_weight(72, 24) == pytest.approx(0.125)
    assert decay_weight(-5, 24) == 1.0  # never more than a whole trade


def test_wilson_bounds_by_hand() -> None:
    # 3 wins in 10, z = 1.96: centre (0.3 + 0.19208) / 1.38416, half-width 0.2684...
    low, high = wilson_bounds(0.3, 10, 1.96)
    assert low == pytest.approx(0.10779, abs=1e-4)
    assert high == pytest.approx(0.60322, abs=1e-4)
    assert wilson_bounds(0.5, 0, 1.0) == (0.0, 1.0)


def test_a_slice_weighs_recent_trades_more() -> None:
    trades = [_trade(1000, -1.0), _trade(1000, -1.0), _trade(1, 1.0)]
    record = slice_record("pair", trades, AS_OF, half_life_hours=100, z=1.28)
    assert record is not None
    assert record.trades == 3
    assert record.win_ratio > 0.9
    assert record.effective_n < 1.1  # two trades worth almost nothing: barely one trade of data
    assert record.mean_return == pytest.approx(
        record.win_ratio * 0.1 - (1 - record.win_ratio) * 0.1
    )


def test_only_trades_closed_strictly_before_as_of() -> None:
    trades = [_trade(1, 1.0), _trade(0, 1.0), _trade(-1, 1.0)]
    assert [t.trade_id for t in trades_before(trades, AS_OF)] == ["t1"]
    with pytest.raises(ValueError, match="closed at or after"):
        slice_record("pair", trades, AS_OF, half_life_hours=100, z=1.28)
    assert slice_record("pair", [], AS_OF, half_life_hours=100, z=1.28) is None
