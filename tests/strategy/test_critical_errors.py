"""Critical errors reach the log with the marker the fleet monitor stops bots on."""

from __future__ import annotations

import logging

import pytest
import respx

from context_service.risk.critical import CRITICAL_MARKER
from context_service.verdicts.models import Action
from strategy.conftest import ASK, SIDECAR, load_strategy, open_trade, strategy_config
from strategy.helpers import PAIR, verdict_json
from strategy.test_fail_closed import AMOUNT, NOW, RATE, confirm, start


@pytest.fixture
def sidecar(sidecar_settings, no_db):
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True, "holder": "bot-1"})
        yield router


def _critical(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]


def test_a_budget_refusal_of_a_stake_the_bot_sized_itself_stops_entries(sidecar, caplog) -> None:
    sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    stake = strategy.custom_stake_amount(
        pair=PAIR,
        current_time=NOW,
        current_rate=RATE,
        proposed_stake=50.0,
        min_stake=1.0,
        max_stake=100.0,
        leverage=1.0,
        entry_tag="ta_candidate",
        side="long",
    )
    assert stake >= AMOUNT * RATE
    # between sizing and confirming, exposure appears that the bot did not know of
    open_trade("SOL/USDT", 10.0, 9.0, NOW, filled=9.0)
    open_trade("XRP/USDT", 1.0, 60.0, NOW, filled=60.0)
    with caplog.at_level(logging.CRITICAL):
        assert confirm(strategy) is False
    (line,) = _critical(caplog)
    assert line.startswith(f"{CRITICAL_MARKER} [budget_guard_breach] {PAIR}: stake 32.000000")
    assert strategy.ctx.blocked_reason.startswith("critical error (budget_guard_breach)")
    assert confirm(strategy) is False
    assert strategy.ctx.stats.refused["blocked"] == 1


def test_an_ordinary_budget_refusal_is_not_critical(sidecar, caplog) -> None:
    sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    open_trade("SOL/USDT", 10.0, 9.0, NOW, filled=9.0)
    open_trade("XRP/USDT", 1.0, 60.0, NOW, filled=60.0)
    with caplog.at_level(logging.CRITICAL):
        assert confirm(strategy) is False  # never sized by the bot: a plain refusal
    assert _critical(caplog) == []
    assert strategy.ctx.blocked_reason is None


def test_an_unreachable_cost_ledger_with_the_llm_on_is_critical(sidecar, caplog) -> None:
    body = verdict_json(action=Action.buy) | {
        "fallback_reason": "replay:redis_error; llm:redis_error"
    }
    sidecar.post(ASK).respond(200, json=body)
    strategy = load_strategy(strategy_config())
    start(strategy)
    with caplog.at_level(logging.CRITICAL):
        strategy.bot_loop_start(current_time=NOW)
    (line,) = _critical(caplog)
    assert line.startswith(f"{CRITICAL_MARKER} [ledger_unreachable]")
    assert strategy.ctx.blocked_reason is None  # the monitor pauses the bot; rules verdicts hold
    assert confirm(strategy) is True
