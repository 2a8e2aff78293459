"""The budget guard: open exposure never passes the budget or the per-pair cap."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from context_service.risk.budget import BudgetGuard, BudgetLimits, Position

PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]


def test_stake_per_trade_is_one_slot_minus_fee_room() -> None:
    limits = BudgetLimits(budget=100, max_open_trades=4, fee_rate=0.001)
    assert limits.stake_per_trade == pytest.approx(25 / 1.001)
    guard = BudgetGuard(limits)
    assert guard.check([], "BTC/USDT", limits.stake_per_trade).allowed


def test_refuses_entry_past_budget_whatever_is_asked() -> None:
    guard = BudgetGuard(BudgetLimits(budget=100, max_open_trades=2, per_pair_cap=60))
    held = [Position("BTC/USDT", filled_cost=49.9, fees_paid=0.05)]
    decision = guard.check(held, "ETH/USDT", 55.0)
    assert not decision.allowed
    assert "budget" in decision.reason
    assert decision.max_stake == pytest.approx((100 - 49.95) / 1.001)


def test_refuses_second_entry_on_same_pair_past_pair_cap() -> None:
    guard = BudgetGuard(BudgetLimits(budget=100, max_open_trades=4))  # cap = one slot = 25
    held = [Position("BTC/USDT", filled_cost=20, pending_entry_cost=4)]
    decision = guard.check(held, "BTC/USDT", 5)
    assert not decision.allowed and "pair cap" in decision.reason
    assert guard.check(held, "ETH/USDT", 5).allowed


def test_pending_entry_orders_count_as_fully_filled_with_fees() -> None:
    guard = BudgetGuard(BudgetLimits(budget=50, max_open_trades=1, fee_rate=0.002))
    pending = [Position("BTC/USDT", pending_entry_cost=49.0)]
    assert guard.exposure(pending) == pytest.approx(49.0 * 1.002)
    assert not guard.check(pending, "ETH/USDT", 1.0).allowed


@pytest.mark.parametrize("stake", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_stake_is_refused(stake: float) -> None:
    guard = BudgetGuard(BudgetLimits(budget=100, max_open_trades=2))
    assert not guard.check([], "BTC/USDT", stake).allowed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget": 0, "max_open_trades": 1},
        {"budget": float("nan"), "max_open_trades": 1},
        {"budget": 10, "max_open_trades": 0},
        {"budget": 10, "max_open_trades": 1, "per_pair_cap": -5},
        {"budget": 10, "max_open_trades": 1, "fee_rate": 0.5},
    ],
)
def test_bad_limits_are_rejected_with_a_message(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"must"):
        BudgetLimits(**kwargs)


# --- property test: a random life of a bot ----------------------------------------------------


@dataclass
class Book:
    """What the exchange would hold for the bot: positions and the real fees they paid."""

    positions: dict[str, Position]

    def all(self) -> list[Position]:
        return list(self.positions.values())


enter_op = st.tuples(
    st.just("enter"),
    st.sampled_from(PAIRS),
    # the stake Freqtrade's wallet proposes: sometimes far more than the budget
    st.floats(min_value=0.5, max_value=500, allow_nan=False),
)
fill_op = st.tuples(st.just("fill"), st.sampled_from(PAIRS), st.floats(0.01, 1.0))
fee_op = st.floats(0.0, 1.0)  # share of the worst-case fee actually charged
exit_op = st.tuples(st.just("exit"), st.sampled_from(PAIRS), st.floats(0.05, 1.0))
cancel_op = st.tuples(st.just("cancel"), st.sampled_from(PAIRS), st.just(0.0))


@settings(max_examples=300, deadline=None)
@given(
    budget=st.floats(20, 1000),
    slots=st.integers(1, 5),
    cap_share=st.one_of(st.none(), st.floats(0.1, 1.0)),
    fee_rate=st.sampled_from([0.0, 0.001, 0.002, 0.006]),
    ops=st.lists(st.tuples(st.one_of(enter_op, fill_op, exit_op, cancel_op), fee_op), max_size=60),
)
def test_exposure_never_exceeds_budget_or_pair_cap(
    budget: float,
    slots: int,
    cap_share: float | None,
    fee_rate: float,
    ops: list,
) -> None:
    limits = BudgetLimits(
        budget=budget,
        max_open_trades=slots,
        per_pair_cap=None if cap_share is None else budget * cap_share,
        fee_rate=fee_rate,
    )
    guard = BudgetGuard(limits)
    book = Book({})
    entries = 0
    for (kind, pair, value), fee_share in ops:
        held = book.positions.get(pair)
        if kind == "enter":
            # what the strategy does: clamp the proposed stake, then confirm it
            stake = min(value, limits.stake_per_trade, guard.max_entry_stake(book.all(), pair))
            if stake < 0.01:  # below any exchange minimum: Freqtrade would not enter
                continue
            assert guard.check(book.all(), pair, stake).allowed
            entries += 1
            base = held or Position(pair)
            book.positions[pair] = replace(base, pending_entry_cost=base.pending_entry_cost + stake)
        elif kind == "fill" and held and held.pending_entry_cost > 0:
            part = held.pending_entry_cost * value
            fee = part * fee_rate * fee_share  # a real fee never exceeds the worst case
            book.positions[pair] = replace(
                held,
                pending_entry_cost=held.pending_entry_cost - part,
                filled_cost=held.filled_cost + part,
                fees_paid=held.fees_paid + fee,
            )
        elif kind == "exit" and held and held.filled_cost > 0:
            keep = 1.0 - value
            updated = replace(
                held, filled_cost=held.filled_cost * keep, fees_paid=held.fees_paid * keep
            )
            if updated.filled_cost < 1e-9 and updated.pending_entry_cost == 0:
                del book.positions[pair]
            else:
                book.positions[pair] = updated
        elif kind == "cancel" and held:
            book.positions[pair] = replace(held, pending_entry_cost=0.0)

        # the invariants, after every step
        assert guard.exposure(book.all()) <= budget + 1e-6
        for p in PAIRS:
            assert guard.exposure(book.all(), p) <= limits.pair_cap + 1e-6
        # and what the exchange could take if every open order filled at the worst fee
        worst = sum(
            p.filled_cost + p.fees_paid + p.pending_entry_cost * (1 + fee_rate) for p in book.all()
        )
        assert worst <= budget + 1e-6


@settings(max_examples=100, deadline=None)
@given(budget=st.floats(20, 1000), slots=st.integers(1, 5))
def test_an_empty_book_always_admits_one_full_slot(budget: float, slots: int) -> None:
    """The guard is not trivially refusing: a fresh bot can always open its first trade."""
    limits = BudgetLimits(budget=budget, max_open_trades=slots)
    guard = BudgetGuard(limits)
    decision = guard.check([], PAIRS[0], limits.stake_per_trade)
    assert decision.allowed
    # and all slots together fill the budget without passing it
    book: list[Position] = []
    for pair in PAIRS[:slots]:
        assert guard.check(book, pair, limits.stake_per_trade).allowed
        book.append(Position(pair, filled_cost=limits.stake_per_trade, fees_paid=0))
    assert guard.exposure(book) <= budget + 1e-6
