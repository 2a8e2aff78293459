"""LLM verdicts through respx-mocked OpenAI HTTP: success, and every failure falls back."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from verdicts.support import CHAT_URL, completion, make_request, ok_response, tool_call


def test_tool_call_gives_an_llm_verdict_with_usage_cost_and_audit(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response(action="buy", confidence=0.82))
    service = make_service()

    verdict = service.decide(make_request())

    assert verdict.source == "llm" and verdict.action == "buy" and verdict.confidence == 0.82
    assert verdict.fallback_reason == "replay:miss"
    assert verdict.evidence_ids == ["ta:BTC/USDT:1h"]
    assert (verdict.prompt_tokens, verdict.completion_tokens) == (900, 40)
    # gpt-4.1-mini: 0.40 USD / 1M input, 1.60 USD / 1M output
    assert verdict.cost_usd == pytest.approx((900 * 0.40 + 40 * 1.60) / 1e6)
    sent = json.loads(route.calls.last.request.content)
    assert sent["model"] == "gpt-4.1-mini" and sent["tool_choice"] == "required"
    # Suggestions are off by default: the tool the call cannot use is not sent.
    assert [t["function"]["name"] for t in sent["tools"]] == ["submit_verdict"]
    assert sent["tools"][0]["function"]["strict"] is True
    [entry] = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    payload = entry.payload
    assert payload["verdict"]["verdict_id"] == verdict.verdict_id
    assert payload["manifest"]["manifest_id"] == verdict.manifest_id
    assert payload["providers"]["llm"]["prompt"][0]["role"] == "system"
    assert payload["providers"]["llm"]["tool_calls"][0]["name"] == "submit_verdict"
    assert payload["providers"]["llm"]["usage"]["prompt_tokens"] == 900
    assert payload["providers"]["llm"]["cost_usd"] == pytest.approx(verdict.cost_usd)
    assert payload["providers"]["llm"]["latency_ms"] > 0
    spent = service.components.ledger.status("bot-1", service.clock())
    assert spent["bot-daily"]["spent_usd"] == pytest.approx(verdict.cost_usd, abs=1e-6)
    assert spent["bot-daily"]["reserved_usd"] == 0


@pytest.mark.parametrize(
    ("response", "reason", "calls"),
    [
        (
            httpx.Response(200, json=completion([tool_call("submit_verdict", "{not json")])),
            "malformed_tool_call",
            1,
        ),
        (httpx.Response(200, json=completion(content="I would buy.")), "no_tool_call", 1),
        (
            httpx.Response(
                200,
                json=completion(
                    [
                        tool_call(
                            "submit_verdict",
                            {
                                "action": "moon",
                                "confidence": 2,
                                "rationale": "x",
                                "evidence_ids": [],
                            },
                        )
                    ]
                ),
            ),
            "invalid_tool_call",
            1,
        ),
        (httpx.Response(429, json={"error": {"message": "slow down"}}), "http_429", 2),
        (httpx.Response(500, json={"error": {"message": "boom"}}), "http_5xx", 2),
        (httpx.Response(401, json={"error": {"message": "bad key"}}), "http_4xx", 1),
        (httpx.ReadTimeout("timed out"), "timeout", 2),
        (httpx.ConnectError("refused"), "connection_error", 2),
    ],
    ids=[
        "malformed-json",
        "no-tool-call",
        "invalid-args",
        "429",
        "500",
        "401",
        "timeout",
        "connect-error",
    ],
)
def test_failures_fall_back_to_rules_with_the_reason(
    make_service, llm_mock: respx.MockRouter, response, reason: str, calls: int
) -> None:
    route = llm_mock.post(CHAT_URL)
    if isinstance(response, Exception):
        route.mock(side_effect=response)
    else:
        route.mock(return_value=response)
    service = make_service()

    verdict = service.decide(make_request())

    assert verdict.source == "rules"
    assert verdict.fallback_reason == f"replay:miss; llm:{reason}"
    assert route.call_count == calls  # transient errors are retried exactly once
    [entry] = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    assert entry.payload["fallbacks"] == ["replay:miss", f"llm:{reason}"]
    assert (
        entry.payload["providers"]["llm"]["prompt"][1]["role"] == "user"
    )  # the failed attempt is audited
    usage = service.components.usage.report(service.clock(), "bot-1")["bots"]["bot-1"]["day"]
    assert usage["fallbacks_by_reason"] == {reason: 1}
    assert usage["failed_calls"] == 1
    status = service.components.ledger.status("bot-1", service.clock())["bot-daily"]
    assert status["reserved_usd"] == 0  # every reservation is settled


def test_a_failed_verdict_is_not_cached(make_service, llm_mock: respx.MockRouter) -> None:
    route = llm_mock.post(CHAT_URL)
    route.side_effect = [httpx.Response(500), httpx.Response(500), ok_response()]
    service = make_service()

    first = service.decide(make_request())
    second = service.decide(make_request())

    assert first.source == "rules" and second.source == "llm"


def test_llm_disabled_goes_straight_to_rules(make_service) -> None:
    service = make_service(llm=False, llm_enabled=False)
    verdict = service.decide(make_request(), ["replay", "llm", "rules"])
    assert verdict.source == "rules"
    assert verdict.fallback_reason == "replay:miss; llm:disabled"
