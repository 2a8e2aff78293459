"""The strategy applies the LLM's adjustments in force: a raised or lowered threshold, a smaller
stake, a paused pair; within the bot's limits, until they expire, and none when unreadable."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from freqtrade.enums import RunMode
from freqtrade.persistence import LocalTrade

from context_service.client import factory
from context_service.settings import Settings
from context_service.verdicts.models import Action
from strategy.conftest import ASK, SIDECAR, load_strategy, strategy_config
from strategy.helpers import CANDLE, PAIR, ta_row, verdict_json
from strategy.test_fail_closed import NOW, confirm, start

DECIDED = CANDLE + timedelta(hours=1)  # the verdict's as_of: the candle's close


@pytest.fixture
def sidecar(sidecar_settings, no_db):
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True, "holder": "bot-1"})
        yield router


def adjustment(
    parameter: str, value: float | None = None, pair: str | None = None, hours: float = 6
) -> dict[str, Any]:
    return {
        "parameter": parameter,
        "value": value,
        "pair": pair,
        "made_at": DECIDED.isoformat(),
        "expires_at": (DECIDED + timedelta(hours=hours)).isoformat(),
        "verdict_id": "v-llm-1",
        "reason": "test",
    }


def with_adjustments(*adjustments: dict[str, Any], confidence: float = 0.8) -> dict[str, Any]:
    return verdict_json(action=Action.buy, confidence=confidence) | {
        "adjustments": list(adjustments)
    }


def stake_at(strategy, when: datetime = NOW, min_stake: float = 1.0) -> float:
    return strategy.custom_stake_amount(
        pair=PAIR,
        current_time=when,
        current_rate=40_000.0,
        proposed_stake=30.0,
        min_stake=min_stake,
        max_stake=100.0,
        leverage=1.0,
        entry_tag="ta_candidate",
        side="long",
    )


def started(config: dict[str, Any] | None = None):
    strategy = load_strategy(config or strategy_config())
    start(strategy)
    strategy.bot_loop_start(current_time=NOW)
    return strategy


def knowledge(tmp_path: Path, section: str) -> str:
    path = tmp_path / "knowledge.yaml"
    path.write_text(f"objects: []\nadjustments:\n{section}", encoding="utf-8")
    return str(path)


def test_every_request_carries_the_bots_limits(sidecar, tmp_path) -> None:
    route = sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    file = knowledge(tmp_path, "  stake_fraction: [0.5, 1.0]\n  pause_pair: false\n")
    started(strategy_config(knowledge_file=file))
    sent = json.loads(route.calls[0].request.content)["adjustment_limits"]
    # no lower bound of min_confidence in the file: the bot's own 0.6 (raise only)
    assert sent == {"min_confidence": [0.6, 0.9], "stake_fraction": [0.5, 1.0], "pause_pair": False}


def test_no_adjustments_change_nothing(sidecar) -> None:
    sidecar.post(ASK).respond(200, json=verdict_json(action=Action.buy))
    strategy = started()
    assert stake_at(strategy) == pytest.approx(30.0)
    assert confirm(strategy) is True
    assert strategy.ctx.stats.adjustments.total == 0


def test_a_raised_min_confidence_refuses_a_buy_below_it(sidecar) -> None:
    sidecar.post(ASK).respond(
        200, json=with_adjustments(adjustment("min_confidence", 0.85), confidence=0.8)
    )
    strategy = started()
    assert confirm(strategy) is False
    stats = strategy.ctx.stats
    assert stats.refused["confidence below the adjusted minimum"] == 1
    assert stats.adjustments.applied["min_confidence"] == 1


def test_a_lowered_min_confidence_needs_the_knowledge_files_lower_bound(
    sidecar, tmp_path, caplog
) -> None:
    lowered = with_adjustments(adjustment("min_confidence", 0.5), confidence=0.55)
    sidecar.post(ASK).respond(200, json=lowered)
    with caplog.at_level(logging.WARNING):
        default = started()  # default limits: raise only
        assert confirm(default) is False
    assert default.ctx.stats.refused["confidence below minimum"] == 1
    assert "outside the bot's limits [0.6, 0.9]" in caplog.text

    file = knowledge(tmp_path, "  min_confidence: [0.5, 0.9]\n")
    allowed = started(strategy_config(knowledge_file=file))
    assert confirm(allowed) is True
    assert allowed.ctx.stats.adjustments.applied["min_confidence"] == 1


def test_a_stake_fraction_scales_the_stake_down_before_the_budget_check(sidecar) -> None:
    sidecar.post(ASK).respond(200, json=with_adjustments(adjustment("stake_fraction", 0.5)))
    strategy = started()
    assert stake_at(strategy) == pytest.approx(15.0)
    assert strategy.state.sized[PAIR] == pytest.approx(15.0)
    assert confirm(strategy) is True
    assert strategy.ctx.stats.adjustments.applied["stake_fraction"] == 1
    # under the exchange's minimum once scaled: no entry
    assert stake_at(strategy, min_stake=20.0) == 0.0
    assert strategy.ctx.stats.refused["adjustment: scaled stake below the exchange minimum"] == 1


def test_a_paused_pair_refuses_entries_until_the_pause_expires(sidecar) -> None:
    sidecar.post(ASK).respond(
        200, json=with_adjustments(adjustment("pause_pair", pair=PAIR, hours=0.5))
    )
    strategy = started()
    assert confirm(strategy, DECIDED + timedelta(minutes=3)) is False
    assert strategy.ctx.stats.refused["paused by adjustment"] == 1
    # the same candle's verdict, after [made_at, expires_at): the pause no longer holds
    LocalTrade.reset_trades()
    assert confirm(strategy, DECIDED + timedelta(minutes=31)) is True


def test_a_paused_pair_is_not_even_asked_about_while_the_pause_holds(sidecar) -> None:
    """No verdict (and no LLM spend) for an entry the pause refuses anyway; asked again once
    the pause has expired."""
    route = sidecar.post(ASK).respond(
        200, json=with_adjustments(adjustment("pause_pair", pair=PAIR, hours=1.5))
    )
    strategy = started()
    assert route.call_count == 1  # the candle that brought the pause
    later = CANDLE + timedelta(hours=1)  # the next candle closes within the pause
    strategy.state.set_candidates(PAIR, "entry", {int(later.timestamp()): ta_row()})
    strategy.bot_loop_start(current_time=NOW + timedelta(hours=1))
    assert route.call_count == 1
    after = CANDLE + timedelta(hours=2)  # closes after the pause expired: asked
    strategy.state.set_candidates(PAIR, "entry", {int(after.timestamp()): ta_row()})
    strategy.bot_loop_start(current_time=NOW + timedelta(hours=2))
    assert route.call_count == 2


def test_a_pause_of_another_pair_does_not_stop_this_one(sidecar) -> None:
    sidecar.post(ASK).respond(200, json=with_adjustments(adjustment("pause_pair", pair="SOL/USDT")))
    assert confirm(started()) is True


def test_unreadable_adjustments_mean_none_applied_and_the_verdict_still_counts(
    sidecar, caplog
) -> None:
    bad = with_adjustments(adjustment("stake_fraction", 5.0))  # a fraction above 1
    sidecar.post(ASK).respond(200, json=bad)
    with caplog.at_level(logging.WARNING):
        strategy = started()
    assert "unreadable adjustments" in caplog.text
    assert stake_at(strategy) == pytest.approx(30.0)
    assert confirm(strategy) is True


def test_a_later_verdict_without_readable_adjustments_clears_them(sidecar) -> None:
    route = sidecar.post(ASK)
    route.side_effect = [
        httpx.Response(200, json=with_adjustments(adjustment("pause_pair", pair=PAIR))),
        httpx.Response(200, json=verdict_json(action=Action.buy, pair="SOL/USDT")),
    ]
    strategy = load_strategy(strategy_config())
    start(strategy)
    strategy.state.set_candidates("SOL/USDT", "entry", {int(CANDLE.timestamp()): ta_row(20.0)})
    strategy.bot_loop_start(current_time=NOW)
    # SOL's verdict (same candle) carried no adjustments at all: none applied, not looser
    assert confirm(strategy) is True


# --- in process (backtests): the LLM's own suggestion, point in time ----------------------

LLM_URL = "http://llm.test/v1"


def _llm_answer(*suggestions: dict[str, Any]) -> httpx.Response:
    calls = [
        {
            "id": "c0",
            "type": "function",
            "function": {
                "name": "submit_verdict",
                "arguments": json.dumps(
                    {"action": "buy", "confidence": 0.8, "rationale": "ok", "evidence_ids": []}
                ),
            },
        }
    ]
    calls += [
        {
            "id": f"c{i + 1}",
            "type": "function",
            "function": {"name": "suggest_adjustment", "arguments": json.dumps(s)},
        }
        for i, s in enumerate(suggestions)
    ]
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": calls},
            }
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940},
    }
    return httpx.Response(200, json=body)


@pytest.fixture
def backtest(monkeypatch, redis_url, keyspace, redis_client, no_db):
    settings = Settings(
        _env_file=None,
        redis_url=redis_url,
        llm_enabled=True,
        llm_base_url=LLM_URL,
        verdict_provider="llm",
        apply_adjustments=True,
        backtest_memory=False,
    )
    monkeypatch.setattr(factory, "get_settings", lambda: settings)
    config = strategy_config(key_prefix=keyspace.prefix, bot_id="backtest")
    config["runmode"] = RunMode.BACKTEST
    return config


def test_in_a_backtest_the_llms_stake_fraction_holds_from_its_candle_until_it_expires(
    backtest, keyspace, redis_client
) -> None:
    # An adjustment an earlier run left behind is no past of this run.
    stale = adjustment("pause_pair", pair=PAIR, hours=48) | {"made_at": CANDLE.isoformat()}
    redis_client.zadd(keyspace.bot("backtest").adjustments, {json.dumps(stale): CANDLE.timestamp()})
    half = {
        "parameter": "stake_fraction",
        "value": 0.5,
        "pair": None,
        "expires_in_hours": 2,
        "reason": "choppy",
    }
    with respx.mock(assert_all_called=False) as llm:
        route = llm.post(f"{LLM_URL}/chat/completions")
        route.side_effect = [_llm_answer(half), _llm_answer()]
        strategy = load_strategy(backtest)
        start(strategy)
        strategy.bot_loop_start(current_time=DECIDED)
        assert stake_at(strategy, DECIDED) == pytest.approx(15.0)
        assert confirm(strategy, DECIDED) is True  # not paused: the stale pause was wiped
        # The candle three hours on: the 2 h fraction made at DECIDED has expired.
        later = CANDLE + timedelta(hours=3)
        LocalTrade.reset_trades()
        strategy.state.set_candidates(PAIR, "entry", {int(later.timestamp()): ta_row()})
        strategy.bot_loop_start(current_time=later + timedelta(hours=1))
        assert route.call_count == 2
        assert stake_at(strategy, later + timedelta(hours=1)) == pytest.approx(30.0)
    assert strategy.ctx.stats.adjustments.as_dict() == {
        "applied": 1,
        "by_kind": {"stake_fraction": 1},
    }
