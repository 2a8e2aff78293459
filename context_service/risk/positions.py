"""Reading a Freqtrade trade as a budget :class:`Position` (duck-typed: no Freqtrade import).

Counted from the trade's orders, not from its summary fields, because during a partial fill
Freqtrade's ``amount``/``stake_amount`` describe what was asked for or what filled so far,
depending on the mode. Filled entries minus filled exits is what the bot holds; still-open entry
orders are counted in full (they can fill at any moment).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from context_service.risk.budget import Position

EXIT_SIDES = {"stoploss"}


def position_of(trade: Any, fee_rate: float) -> Position:
    entry_side = trade.entry_side
    exit_sides = {trade.exit_side, *EXIT_SIDES}
    bought = cost = sold = pending = 0.0
    for order in trade.orders:
        side = order.ft_order_side
        filled = float(order.safe_filled or 0.0)
        price = float(order.safe_price or 0.0)
        if side == entry_side:
            bought += filled
            cost += filled * price
            if order.ft_is_open:
                pending += float(order.safe_remaining or 0.0) * price
        elif side in exit_sides:
            sold += filled
    held = max(0.0, bought - sold)
    filled_cost = held * (cost / bought) if bought > 0 else 0.0
    fee = max(float(trade.fee_open or 0.0), fee_rate)
    return Position(
        pair=trade.pair,
        filled_cost=filled_cost,
        fees_paid=filled_cost * fee,
        pending_entry_cost=pending,
    )


def positions_of(trades: Iterable[Any], fee_rate: float) -> list[Position]:
    return [position_of(t, fee_rate) for t in trades]
