"""LLM parameter suggestions that take effect: opt-in, judged, bounded, point in time.

The LLM answers over respx-mocked HTTP with ``submit_verdict`` plus ``suggest_adjustment``; the
service records each suggestion (accepted or rejected with why) and hands every later verdict
the adjustments in force as of its decision.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from verdicts.support import CHAT_URL, T0, completion, make_request, tool_call, verdict_call

from context_service.adjustments import AdjustmentLimits
from context_service.llm.prompt import system_prompt


def suggestion(
    parameter: str = "min_confidence",
    value: float | None = 0.75,
    pair: str | None = None,
    hours: float = 12,
    reason: str = "noisy tape",
) -> dict[str, Any]:
    return {
        "parameter": parameter,
        "value": value,
        "pair": pair,
        "expires_in_hours": hours,
        "reason": reason,
    }


def answer(*suggestions: dict[str, Any] | str, action: str = "buy") -> httpx.Response:
    calls = [verdict_call(action=action)]
    for i, s in enumerate(suggestions):
        calls.append(tool_call("suggest_adjustment", s, call_id=f"call_s{i}"))
    return httpx.Response(200, json=completion(calls))


def at(hours: float, **kwargs: Any):
    """A request about the candle ``hours`` after T0, decided as of that candle."""
    request = make_request(i=int(hours), as_of=True, **kwargs)
    return request.model_copy(update={"as_of": T0 + timedelta(hours=hours)})


def test_off_by_default_the_tool_is_not_sent_and_nothing_takes_effect(
    make_service, llm_mock: respx.MockRouter
) -> None:
    # The model calls suggest_adjustment anyway (it was not offered): recorded as rejected.
    route = llm_mock.post(CHAT_URL).mock(return_value=answer(suggestion(value=0.95)))
    service = make_service()

    first = service.decide(at(0))
    later = service.decide(at(1))

    body = json.loads(route.calls[0].request.content)
    assert [t["function"]["name"] for t in body["tools"]] == ["submit_verdict"]
    assert "suggest_adjustment" not in body["messages"][0]["content"]
    assert first.source == later.source == "llm"
    assert first.adjustments is None and later.adjustments is None
    view = service.adjustments("bot-1", T0 + timedelta(hours=1))
    assert view["enabled"] is False and view["in_force"] == []
    assert view["suggestions"][0]["accepted"] is False
    assert "CTX_APPLY_ADJUSTMENTS" in view["suggestions"][0]["why"]


def test_the_tool_schema_is_strict_and_typed(make_service, llm_mock: respx.MockRouter) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=answer())
    make_service(apply_adjustments=True).decide(at(0))

    body = json.loads(route.calls.last.request.content)
    tool = body["tools"][1]["function"]
    assert tool["name"] == "suggest_adjustment" and tool["strict"] is True
    params = tool["parameters"]
    assert params["additionalProperties"] is False
    assert params["properties"]["parameter"]["enum"] == [
        "min_confidence",
        "stake_fraction",
        "pause_pair",
    ]
    assert sorted(params["required"]) == sorted(params["properties"])
    assert body["messages"][0]["content"] == system_prompt(suggestions=True)


def test_an_accepted_suggestion_is_in_force_from_its_decision_until_it_expires(
    make_service, llm_mock: respx.MockRouter
) -> None:
    llm_mock.post(CHAT_URL).mock(
        side_effect=[answer(suggestion(value=0.75, hours=12)), answer(), answer(), answer()]
    )
    service = make_service(apply_adjustments=True)

    made = service.decide(at(0))
    during = service.decide(at(11))
    after = service.decide(at(12))  # [T, T + 12 h): no longer in force

    [adjustment] = made.adjustments
    assert adjustment.parameter == "min_confidence" and adjustment.value == 0.75
    assert adjustment.made_at == T0 and adjustment.expires_at == T0 + timedelta(hours=12)
    assert adjustment.verdict_id == made.verdict_id
    assert made.action == "buy"  # a suggestion never changes the verdict itself
    assert during.adjustments == [adjustment]
    assert after.adjustments == []
    [entry] = service.adjustments("bot-1", T0)["suggestions"]
    assert entry["accepted"] is True and entry["expires_at"] == adjustment.expires_at.isoformat()
    # The audit entry of the deciding verdict keeps the suggestion with its fate.
    audit = service.audit("bot-1", kind="verdict")[0].payload
    assert audit["providers"]["llm"]["adjustments"][0]["why"] == "accepted"
    assert audit["verdict"]["adjustments"][0]["value"] == 0.75
    metrics = service.metrics_text().decode()
    accepted = 'ctx_adjustment_suggestions_total{outcome="accepted",parameter="min_confidence"}'
    assert f"{accepted} 1.0" in metrics
    assert 'ctx_adjustments_in_force_total{parameter="min_confidence"} 2.0' in metrics


def test_a_backtest_sees_only_adjustments_made_before_its_as_of(
    make_service, llm_mock: respx.MockRouter
) -> None:
    llm_mock.post(CHAT_URL).mock(
        side_effect=[answer(suggestion("stake_fraction", 0.5, hours=24)), answer(), answer()]
    )
    service = make_service(apply_adjustments=True)

    service.decide(at(10))  # made as of T0 + 10 h
    earlier = service.decide(at(3))  # a decision as of an earlier time: not known then
    later = service.decide(at(20))

    assert earlier.adjustments == []
    assert [a.value for a in later.adjustments] == [0.5]


def test_the_newest_adjustment_of_a_parameter_wins_and_pauses_are_per_pair(
    make_service, llm_mock: respx.MockRouter
) -> None:
    llm_mock.post(CHAT_URL).mock(
        side_effect=[
            answer(suggestion(value=0.8), suggestion("pause_pair", None, "BTC/USDT", hours=6)),
            answer(suggestion(value=0.7), suggestion("pause_pair", None, "SOL/USDT", hours=6)),
            answer(),
        ]
    )
    service = make_service(apply_adjustments=True)

    service.decide(at(0))
    service.decide(at(1, pair="SOL/USDT"))
    verdict = service.decide(at(2))

    found = {(a.parameter, a.pair): a.value for a in verdict.adjustments}
    assert found == {
        ("min_confidence", None): 0.7,  # the newer one replaced 0.8
        ("pause_pair", "BTC/USDT"): None,
        ("pause_pair", "SOL/USDT"): None,
    }


def test_the_bots_limits_refuse_values_outside_them_and_shorten_long_expiries(
    make_service, llm_mock: respx.MockRouter
) -> None:
    llm_mock.post(CHAT_URL).mock(
        return_value=answer(
            suggestion(value=0.85),  # above the bot's 0.8
            suggestion("stake_fraction", 0.5),  # not adjustable for this bot
            suggestion("pause_pair", None, "BTC/USDT", hours=100),  # the bot allows 6 h
            suggestion(value=0.62, hours=100),  # the sidecar's longest is 24 h
        )
    )
    service = make_service(apply_adjustments=True)
    limits = AdjustmentLimits.model_validate(
        {"min_confidence": [0.6, 0.8], "stake_fraction": False, "pause_pair": {"max_hours": 6}}
    )

    verdict = service.decide(at(0).model_copy(update={"adjustment_limits": limits}))

    why = [(s.get("parameter"), s["accepted"], s["why"]) for s in _suggestions(service)]
    assert why == [
        ("min_confidence", False, "min_confidence 0.85 outside the bot's limits [0.6, 0.8]"),
        ("stake_fraction", False, "stake_fraction is not adjustable for this bot"),
        ("pause_pair", True, "accepted; expiry shortened to 6 h"),
        ("min_confidence", True, "accepted; expiry shortened to 24 h"),
    ]
    expiries = {a.parameter: a.expires_at - a.made_at for a in verdict.adjustments}
    assert expiries == {"pause_pair": timedelta(hours=6), "min_confidence": timedelta(hours=24)}


def test_without_limits_in_the_request_the_conservative_defaults_hold(
    make_service, llm_mock: respx.MockRouter
) -> None:
    llm_mock.post(CHAT_URL).mock(
        return_value=answer(suggestion("stake_fraction", 0.1), suggestion(value=0.95))
    )
    service = make_service(apply_adjustments=True)

    assert service.decide(at(0)).adjustments == []
    assert [s["why"] for s in _suggestions(service)] == [
        "stake_fraction 0.1 outside the bot's limits [0.25, 1]",
        "min_confidence 0.95 outside the bot's limits [0, 0.9]",
    ]


HOSTILE = [
    (
        '{"parameter": "min_confidence", "value": NaN, "pair": null, "expires_in_hours": 1, '
        '"reason": "r"}',
        "finite number",
    ),
    (
        '{"parameter": "stake_fraction", "value": 1e309, "pair": null, "expires_in_hours": 1, '
        '"reason": "r"}',
        "finite number",
    ),
    (suggestion("pause_pair", None, "BTC/USDT\n"), "pattern"),
    (suggestion("stake_fraction\n", 0.5), "Input should be"),
    (suggestion(hours=9999 * 365 * 24), "less than or equal to 8760"),
    (suggestion(reason="x" * 10_000), "at most 500 characters"),
    (suggestion(reason="fine\x1b[2Jclear"), "control characters"),
    (suggestion(value="0.7"), "valid number"),  # type: ignore[arg-type]
    (suggestion(value=True), "valid number"),  # type: ignore[arg-type]
    (suggestion("stake_fraction", 0.0), "not in (0, 1]"),
    (suggestion("pause_pair", 0.5, "BTC/USDT"), "takes no value"),
    ({**suggestion(), "extra": 1}, "Extra inputs"),
    ("[1, 2]", "not an object"),
    (suggestion("pause_pair", None, "ETH/USDT"), "not one this bot trades"),
]


@pytest.mark.parametrize(("bad", "why"), HOSTILE)
def test_hostile_suggestions_are_rejected_with_why_and_the_verdict_still_stands(
    make_service, llm_mock: respx.MockRouter, bad: dict[str, Any] | str, why: str
) -> None:
    good = suggestion("stake_fraction", 0.5)
    llm_mock.post(CHAT_URL).mock(side_effect=[answer(bad), answer(good)])
    service = make_service(apply_adjustments=True)

    first = service.decide(at(0))
    second = service.decide(at(1))

    assert first.source == "llm" and first.action == "buy"  # the verdict is used
    assert first.adjustments == []
    rejected = _suggestions(service)[0]
    assert rejected["accepted"] is False and why in rejected["why"], rejected["why"]
    assert len(json.dumps(rejected)) < 2000  # a huge answer is not stored whole
    assert 'ctx_adjustment_suggestions_total{outcome="rejected"' in service.metrics_text().decode()
    assert second.source == "llm" and [a.value for a in second.adjustments] == [0.5]


def test_unreadable_stored_adjustments_mean_none_applied(
    make_service, llm_mock: respx.MockRouter, redis_client, keyspace, caplog
) -> None:
    llm_mock.post(CHAT_URL).mock(side_effect=[answer(suggestion()), answer()])
    service = make_service(apply_adjustments=True)
    service.decide(at(0))
    redis_client.zadd(keyspace.bot("bot-1").adjustments, {'{"parameter": "x"}': T0.timestamp()})

    with caplog.at_level(logging.WARNING):
        verdict = service.decide(at(1))

    assert verdict.source == "llm" and verdict.adjustments is None  # the bot applies none
    assert "no adjustments applied" in caplog.text
    assert service.adjustments("bot-1", T0 + timedelta(hours=1))["in_force"] is None


def test_a_masked_pause_names_the_real_pair(make_service, llm_mock: respx.MockRouter) -> None:
    llm_mock.post(CHAT_URL).mock(
        return_value=answer(suggestion("pause_pair", None, "ASSET_A/QUOTE"))
    )
    service = make_service(apply_adjustments=True, llm_masking=True)

    [pause] = service.decide(at(0)).adjustments

    assert pause.pair == "BTC/USDT"


def _suggestions(service) -> list[dict[str, Any]]:
    """Oldest first."""
    return list(reversed(service.adjustments("bot-1", T0)["suggestions"]))
