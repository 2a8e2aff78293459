"""Dry-run over HTTP: any sidecar failure refuses entries, while exits never need it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest
import respx
from freqtrade.persistence import LocalTrade

from context_service.client import factory
from context_service.verdicts.models import Action
from strategy.conftest import ASK, SIDECAR, load_strategy, open_trade, strategy_config
from strategy.helpers import CANDLE, PAIR, ta_row, verdict_json

NOW = CANDLE + timedelta(hours=1, minutes=3)  # CANDLE is the last closed candle at NOW
AMOUNT, RATE = 0.0008, 40_000.0  # a 32 USDT entry


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def start(monkeypatch_ready_strategy) -> None:
    strategy = monkeypatch_ready_strategy
    strategy.bot_start()
    strategy.state.set_candidates(PAIR, "entry", {_epoch(CANDLE): ta_row()})
    strategy.state.set_candidates(PAIR, "exit", {_epoch(CANDLE): ta_row()})


def confirm(strategy, when: datetime = NOW) -> bool:
    return strategy.confirm_trade_entry(
        pair=PAIR,
        order_type="limit",
        amount=AMOUNT,
        rate=RATE,
        time_in_force="GTC",
        current_time=when,
        entry_tag="ta_candidate",
        side="long",
    )


@pytest.fixture
def sidecar(sidecar_settings, no_db):
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True, "holder": "bot-1"})
        yield router


@pytest.fixture(params=["ask", "sync"])
def path(request, sidecar_settings, monkeypatch) -> str:
    """The verdict route the strategy calls: asynchronous asks (the default) or, with
    CTX_VERDICT_ASYNC=false, the route that waits for the verdict."""
    if request.param == "ask":
        assert sidecar_settings.verdict_async is True  # the default, nothing set
        return ASK
    sync = sidecar_settings.model_copy(update={"verdict_async": False})
    monkeypatch.setattr(factory, "get_settings", lambda: sync)
    return "/v1/verdicts"


def test_valid_buy_verdict_confirms_entry(sidecar, path: str) -> None:
    route = sidecar.post(path).respond(200, json=verdict_json(action=Action.buy))
    other = sidecar.post(ASK if path != ASK else "/v1/verdicts")
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    assert route.call_count == 1 and other.call_count == 0
    body = json.loads(route.calls[0].request.content)
    assert body["candle_time"].startswith("2022-03-01T10:00")
    assert body["as_of"].startswith("2022-03-01T11:00")  # the candle's close, never later
    assert route.calls[0].request.headers["Authorization"] == "Bearer t0ken"
    assert confirm(strategy) is True
    assert strategy.ctx.stats.entries_confirmed == 1


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (httpx.ConnectError("connection refused"), "sidecar down"),
        (httpx.ReadTimeout("timed out"), "timeout"),
        (httpx.Response(200, content=b"{not json"), "malformed body"),
        (httpx.Response(200, json={"action": "buy", "confidence": 0.99}), "missing fields"),
        (httpx.Response(200, json=verdict_json(action=Action.buy) | {"confidence": 7}), "range"),
        (httpx.Response(500, text="boom"), "server error"),
        (httpx.Response(401, json={"error": "unauthorized"}), "auth"),
        (httpx.Response(200, json=verdict_json(pair="SOL/USDT")), "wrong pair"),
    ],
)
def test_sidecar_failures_refuse_entries(sidecar, path: str, failure, reason) -> None:
    route = sidecar.post(path)
    if isinstance(failure, Exception):
        route.side_effect = failure
    else:
        route.return_value = failure
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)  # must not raise
    assert confirm(strategy) is False, reason
    assert strategy.ctx.stats.refused["engine unavailable"] == 1


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (httpx.Response(429, json={"message": "too many verdict asks in progress"}), "bot bound"),
        (httpx.Response(503, json={"message": "Redis unavailable"}), "busy or Redis down"),
        (httpx.Response(202, json={"status": "queued"}), "202 that is not pending"),
        (httpx.Response(202, text="pending"), "202 without JSON"),
    ],
)
def test_refused_asks_refuse_entries(sidecar, failure, reason) -> None:
    sidecar.post(ASK).mock(return_value=failure)
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    assert confirm(strategy) is False, reason
    assert strategy.ctx.stats.refused["engine unavailable"] == 1


def test_a_pending_verdict_refuses_until_it_arrives_then_enters(sidecar) -> None:
    pending = httpx.Response(202, json={"status": "pending", "pending_s": 0.3})
    route = sidecar.post(ASK).mock(
        side_effect=[pending, pending, httpx.Response(200, json=verdict_json(action=Action.buy))]
    )
    strategy = load_strategy(strategy_config())
    start(strategy)
    for _ in range(2):  # two loops while the sidecar works on it
        strategy.bot_loop_start(current_time=NOW)
        assert confirm(strategy) is False
    strategy.bot_loop_start(current_time=NOW)  # the loop after it arrived
    assert confirm(strategy) is True
    stats = strategy.ctx.stats
    assert stats.refused == {"verdict pending": 2} and stats.unavailable == 0
    assert route.call_count == 3
    strategy.bot_loop_start(current_time=NOW)
    assert route.call_count == 3  # the verdict is held: not asked again


def test_no_verdict_fetched_yet_refuses(sidecar) -> None:
    strategy = load_strategy(strategy_config())
    start(strategy)
    assert confirm(strategy) is False
    assert strategy.ctx.stats.refused["no verdict for this candle"] == 1


def test_verdict_of_previous_candle_is_not_reused(sidecar) -> None:
    sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    assert confirm(strategy, NOW + timedelta(hours=1)) is False


def test_exception_inside_confirm_is_a_refusal_not_a_yes(sidecar, monkeypatch) -> None:
    sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)

    def broken(*args, **kwargs):
        raise ValueError("positions unavailable")

    monkeypatch.setattr(strategy, "_open_positions", broken)
    assert confirm(strategy) is False
    assert strategy.ctx.stats.refused["error"] == 1


def test_lease_held_by_another_bot_refuses_entries(sidecar_settings, no_db) -> None:
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(409, json={"held": False, "holder": "bot-2"})
        router.post(ASK).respond(200, json=verdict_json(action=Action.buy))
        strategy = load_strategy(strategy_config())
        start(strategy)
        strategy.bot_loop_start(current_time=NOW)
        assert confirm(strategy) is False
        assert strategy.ctx.stats.refused["sub-account lease not held"] == 1


def test_budget_guard_refuses_whatever_the_wallet_says(sidecar) -> None:
    sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    strategy = load_strategy(strategy_config(per_pair_cap=100))
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    # the wallet proposes 10 000 USDT: the guard clamps to one slot of the 100 USDT budget
    stake = strategy.custom_stake_amount(
        pair=PAIR,
        current_time=NOW,
        current_rate=RATE,
        proposed_stake=10_000,
        min_stake=1,
        max_stake=10_000,
        leverage=1,
        entry_tag=None,
        side="long",
    )
    assert stake == pytest.approx(100 / 3 / 1.001)
    LocalTrade.reset_trades()
    assert confirm(strategy) is True
    # 70 USDT already tied up in SOL (40 filled + 30 still pending): 32 more would pass 100
    open_trade("SOL/USDT", 10.0, 7.0, NOW - timedelta(hours=5), filled=4.0)
    assert confirm(strategy) is False
    assert strategy.ctx.stats.refused["budget"] == 1
    assert strategy.ctx.blocked_reason is None  # a plain refusal, not a critical error


def test_daily_trade_limit_stops_entries_for_the_day(sidecar) -> None:
    sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    strategy = load_strategy(strategy_config(max_entries_per_day=1))
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    assert confirm(strategy) is True
    assert confirm(strategy) is False
    assert strategy.ctx.stats.refused["daily trade limit"] == 1


def _trend_frame(rows: int = 600) -> pd.DataFrame:
    """Hourly candles: a steady rise, then a sharp fall (which must trigger a TA exit)."""
    dates = pd.date_range("2022-01-01", periods=rows, freq="1h", tz="UTC")
    rise = np.linspace(100, 160, rows - 60)
    fall = np.linspace(158, 110, 60)
    close = np.concatenate([rise, fall]) * (1 + 0.004 * np.sin(np.arange(rows)))
    return pd.DataFrame(
        {
            "date": dates,
            "open": close * 0.999,
            "high": close * 1.004,
            "low": close * 0.996,
            "close": close,
            "volume": np.full(rows, 1000.0),
        }
    )


def test_exits_and_stoploss_work_while_the_sidecar_is_down(sidecar) -> None:
    route = sidecar.post(ASK)
    route.side_effect = httpx.ConnectError("connection refused")
    strategy = load_strategy(strategy_config())
    strategy.bot_start()
    frame = strategy.advise_all_indicators({PAIR: _trend_frame()})[PAIR]
    frame = strategy.ft_advise_signals(frame, {"pair": PAIR})
    # the TA exit fires in the fall without any verdict
    assert frame["exit_long"].fillna(0).sum() >= 1
    last = frame["date"].iloc[-1].to_pydatetime() + timedelta(hours=1)
    trade = open_trade(PAIR, 140.0, 0.2, last - timedelta(hours=30), filled=0.2)
    calls_before = route.call_count
    # a sell verdict cannot be had: custom_exit says nothing instead of failing
    assert strategy.custom_exit(PAIR, trade, last, 150.0, 0.07) is None
    # the ATR trailing stop still answers (in profit by more than one ATR)
    stop = strategy.custom_stoploss(PAIR, trade, last, 150.0, 0.07, after_fill=False)
    assert stop is not None and -0.2 < stop < 0
    assert strategy.custom_stoploss(PAIR, trade, last, 139.0, -0.007, after_fill=False) is None
    assert route.call_count == calls_before  # exits never called the sidecar
    assert strategy.stoploss == -0.08


def test_exit_candidate_with_sell_verdict_exits_via_custom_exit(sidecar) -> None:
    sidecar.post(ASK).respond(
        200, json=verdict_json(action=Action.sell, confidence=0.8, candidate="exit")
    )
    strategy = load_strategy(strategy_config())
    start(strategy)
    trade = open_trade(PAIR, 40_000.0, 0.0008, CANDLE - timedelta(hours=10), filled=0.0008)
    strategy.bot_loop_start(current_time=NOW)
    assert strategy.custom_exit(PAIR, trade, NOW, 39_000.0, -0.02) == "verdict_sell_rules"
    assert strategy.custom_exit(PAIR, trade, NOW + timedelta(hours=1), 39_000, -0.02) is None


def test_no_candidate_means_no_request(sidecar) -> None:
    route = sidecar.post(ASK).respond(200, json=verdict_json())
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW + timedelta(hours=3))
    assert route.call_count == 0


def test_bad_context_section_is_a_clear_error(sidecar_settings, no_db) -> None:
    strategy = load_strategy(strategy_config(budget=-5))
    with pytest.raises(Exception, match="context"):
        strategy.bot_start()


def test_a_bad_sub_account_name_stops_the_bot_at_start(sidecar_settings, no_db) -> None:
    strategy = load_strategy(strategy_config(account="my account!"))
    with pytest.raises(Exception, match="invalid account 'my account!'"):
        strategy.bot_start()


def test_utc_now_is_used_for_signal_candle() -> None:
    from freqtrade.exchange import timeframe_to_prev_date

    at = datetime(2022, 3, 1, 11, 59, tzinfo=UTC)
    assert timeframe_to_prev_date("1h", at) - timedelta(hours=1) == CANDLE


def test_a_failing_sidecar_is_asked_once_per_loop_not_once_per_pair(sidecar) -> None:
    route = sidecar.post(ASK)
    route.side_effect = httpx.ReadTimeout("timed out")
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.state.set_candidates("SOL/USDT", "entry", {_epoch(CANDLE): ta_row(100.0)})
    strategy.bot_loop_start(current_time=NOW)
    assert route.call_count == 1  # the loop does not stall 2 s per pair
    assert confirm(strategy) is False


def test_lease_is_renewed_even_with_gating_off(sidecar_settings, no_db) -> None:
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        lease = router.post("/v1/leases/bot-1").respond(409, json={"held": False, "holder": "x"})
        strategy = load_strategy(strategy_config(gating=False))
        strategy.bot_start()
        assert lease.call_count == 1
        assert confirm(strategy) is False  # no lease: no entry, verdicts or not
        strategy.bot_loop_start(current_time=datetime.now(UTC) + timedelta(seconds=31))
        assert lease.call_count == 2
