"""StrategyState (candidates, verdicts, attribution) and the fail-closed callback wrapper."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from context_service.client.callbacks import fail_closed
from context_service.client.state import OPENING_VERDICT_KEY, StrategyState
from context_service.risk.refusals import Refusal
from strategy.conftest import load_strategy, strategy_config
from strategy.helpers import CANDLE, PAIR, ta_row
from strategy.helpers import verdict as make_verdict


class FakeTrade:
    """The custom-data API of a Freqtrade trade, in memory."""

    def __init__(self, trade_id: int) -> None:
        self.id = trade_id
        self.data: dict[str, Any] = {}

    def set_custom_data(self, key: str, value: Any) -> None:
        self.data[key] = value

    def get_custom_data(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def test_candidates_by_candle_and_pair() -> None:
    state = StrategyState()
    epoch = int(CANDLE.timestamp())
    state.set_candidates(PAIR, "entry", {epoch: ta_row()})
    state.set_candidates("SOL/USDT", "entry", {epoch - 3600: ta_row(100.0)})
    assert list(state.candidates_at("entry", epoch)) == [PAIR]
    assert state.candidates_at("entry", epoch, "SOL/USDT") == {}
    assert state.candidates_at("exit", epoch) == {}


def test_atr_is_read_at_or_before_the_candle_and_nan_is_unknown() -> None:
    state = StrategyState()
    state.set_atr(PAIR, np.array([100, 200, 300]), np.array([0.01, np.nan, 0.03]))
    assert state.atr_pct_at(PAIR, 99) is None
    assert state.atr_pct_at(PAIR, 150) == 0.01
    assert state.atr_pct_at(PAIR, 250) is None
    assert state.atr_pct_at(PAIR, 10_000) == 0.03
    assert state.atr_pct_at("ETH/USDT", 150) is None


def test_live_state_keeps_the_last_marks_only() -> None:
    state = StrategyState(keep=2)
    for epoch in (1, 2, 3):
        state.mark(PAIR, epoch, make_verdict())
    assert sorted(state.marks(PAIR)) == [2, 3]


def test_the_opening_verdict_lives_on_the_trade() -> None:
    verdict = make_verdict()
    state = StrategyState()
    trade = FakeTrade(7)
    state.entry_confirmed(PAIR, verdict)
    assert state.entry_filled(PAIR, trade) == verdict
    assert trade.data[OPENING_VERDICT_KEY]["verdict_id"] == verdict.verdict_id
    # A second fill of the same trade (no pending verdict) keeps it.
    assert state.entry_filled(PAIR, trade) == verdict
    # Another process (a restarted bot) reads it back from the trade.
    assert StrategyState().opening_verdict(trade) == verdict


def test_partial_exits_add_up_on_the_trade() -> None:
    trade = FakeTrade(3)
    assert StrategyState().exit_filled(trade, 1.5) == 1.5
    assert StrategyState().exit_filled(trade, -0.5) == 1.0  # survives a new state object


@pytest.mark.parametrize("stored", [{"verdict_id": 1}, "garbage", {"source": "Rules\n"}])
def test_an_unreadable_stored_verdict_is_ignored(stored, caplog) -> None:
    trade = FakeTrade(9)
    trade.set_custom_data(OPENING_VERDICT_KEY, stored)
    with caplog.at_level(logging.WARNING):
        assert StrategyState().opening_verdict(trade) is None
    assert "unreadable opening verdict" in caplog.text


class Stats:
    def __init__(self) -> None:
        self.refused: list[Refusal] = []

    def refuse(self, refusal: Refusal) -> None:
        self.refused.append(refusal)


class Ctx:
    def __init__(self) -> None:
        self.stats = Stats()


class Guarded:
    def __init__(self) -> None:
        self.ctx = Ctx()

    @fail_closed(False, meaning="refusing entry", refusal=Refusal.error)
    def confirm(self, pair: str, *, fail: bool) -> bool:
        if fail:
            raise RuntimeError("boom")
        return True


def test_the_wrapper_answers_the_safe_value_and_counts_the_refusal(caplog) -> None:
    guarded = Guarded()
    with caplog.at_level(logging.WARNING):
        assert guarded.confirm(PAIR, fail=True) is False
    assert guarded.ctx.stats.refused == [Refusal.error]
    assert "confirm failed, refusing entry: boom" in caplog.text
    assert guarded.confirm(PAIR, fail=False) is True  # the next call works


def test_wrapped_callbacks_keep_the_signature_freqtrade_reads(no_db) -> None:
    strategy = load_strategy(strategy_config())
    # Freqtrade calls custom_stoploss after fills only when it declares after_fill.
    assert strategy._ft_stop_uses_after_fill is True
