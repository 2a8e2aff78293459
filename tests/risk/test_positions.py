"""Exposure read from real Freqtrade trades: partial fills, pending orders, partial exits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freqtrade.persistence import LocalTrade, Order
from strategy.helpers import make_order

from context_service.risk.positions import position_of

WHEN = datetime(2022, 3, 1, 10, tzinfo=UTC)


def order(side: str, amount: float, filled: float, price: float, n: int) -> Order:
    return make_order(
        pair="SOL/USDT",
        side=side,
        amount=amount,
        filled=filled,
        price=price,
        when=WHEN,
        order_id=f"o{n}",
    )


def trade(*orders: Order, fee: float = 0.001) -> LocalTrade:
    t = LocalTrade(
        id=1,
        pair="SOL/USDT",
        stake_currency="USDT",
        base_currency="SOL",
        open_rate=10.0,
        open_date=WHEN,
        stake_amount=30.0,
        amount=0,
        fee_open=fee,
        fee_close=fee,
        is_open=True,
        exchange="kucoin",
        orders=[],
    )
    t.orders.extend(orders)
    return t


def test_partially_filled_entry_counts_filled_cost_fees_and_pending() -> None:
    p = position_of(trade(order("buy", 3.0, 1.0, 10.0, 1)), fee_rate=0.001)
    assert p.filled_cost == pytest.approx(10.0)
    assert p.fees_paid == pytest.approx(0.01)
    assert p.pending_entry_cost == pytest.approx(20.0)
    assert p.exposure(0.001) == pytest.approx(10.0 + 0.01 + 20.0 * 1.001)


def test_partial_exit_frees_its_share_at_entry_cost() -> None:
    p = position_of(
        trade(order("buy", 3.0, 3.0, 10.0, 1), order("sell", 1.0, 1.0, 12.0, 2)), fee_rate=0.001
    )
    assert p.filled_cost == pytest.approx(20.0)  # 2 SOL held at 10, not at the exit price
    assert p.pending_entry_cost == 0


def test_stoploss_fill_and_worst_case_fee_floor() -> None:
    p = position_of(
        trade(order("buy", 2.0, 2.0, 10.0, 1), order("stoploss", 2.0, 2.0, 9.0, 2), fee=0.0),
        fee_rate=0.002,
    )
    assert p.filled_cost == 0 and p.exposure(0.002) == 0
    held = position_of(trade(order("buy", 2.0, 2.0, 10.0, 1), fee=0.0), fee_rate=0.002)
    assert held.fees_paid == pytest.approx(20.0 * 0.002)  # unknown fee: the worst case counts
