"""json_schema mode: servers without tool calling answer in content, validated as strictly."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from verdicts.support import CHAT_URL, completion, make_request

LOCAL = {
    "llm_model": "llama3.1:8b",
    "llm_output_mode": "json_schema",
    "llm_prices": {"llama3.1:8b": {"free": True}},
}
GOOD = {
    "action": "buy",
    "confidence": 0.71,
    "rationale": "trend up",
    "evidence_ids": ["ta:BTC/USDT:1h", "made-up"],
}


def _answer(content: str) -> httpx.Response:
    return httpx.Response(200, json=completion(content=content, model="llama3.1:8b"))


def test_the_verdict_comes_as_strict_json_content(make_service, llm_mock: respx.MockRouter):
    route = llm_mock.post(CHAT_URL).mock(return_value=_answer(json.dumps(GOOD)))
    service = make_service(**LOCAL)

    verdict = service.decide(make_request())

    assert verdict.source == "llm" and verdict.action == "buy" and verdict.confidence == 0.71
    assert verdict.evidence_ids == ["ta:BTC/USDT:1h"]  # an id the context lacked is dropped
    assert verdict.cost_usd == 0
    sent = json.loads(route.calls.last.request.content)
    assert "tools" not in sent and "tool_choice" not in sent
    fmt = sent["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["action", "confidence", "rationale", "evidence_ids"]
    assert schema["additionalProperties"] is False
    assert "submit_verdict tool" not in sent["messages"][0]["content"]
    assert sent["messages"][-1]["content"].endswith("Answer now.")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("```json\n" + json.dumps(GOOD) + "\n```", "malformed_tool_call"),
        ("I think buy.", "malformed_tool_call"),
        (json.dumps([GOOD]), "malformed_tool_call"),
        (json.dumps({**GOOD, "confidence": float("nan")}), "invalid_tool_call"),
        (json.dumps({**GOOD, "confidence": 1.5}), "invalid_tool_call"),
        (json.dumps({**GOOD, "action": "moon"}), "invalid_tool_call"),
        (json.dumps({**GOOD, "extra": 1}), "invalid_tool_call"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "rationale"}), "invalid_tool_call"),
        (json.dumps({**GOOD, "rationale": "x" * 100_000}), "invalid_tool_call"),
    ],
)
def test_hostile_or_sloppy_content_falls_back_with_a_reason_then_a_good_answer_works(
    make_service, llm_mock: respx.MockRouter, content: str, reason: str
) -> None:
    route = llm_mock.post(CHAT_URL).mock(side_effect=[_answer(content), _answer(json.dumps(GOOD))])
    service = make_service(**LOCAL)

    bad = service.decide(make_request())
    good = service.decide(make_request(i=1))

    assert bad.source != "llm" and reason in bad.fallback_reason
    assert good.source == "llm" and good.action == "buy"
    assert route.call_count == 2


def test_no_content_at_all_is_no_verdict(make_service, llm_mock: respx.MockRouter) -> None:
    llm_mock.post(CHAT_URL).mock(return_value=_answer(None))  # type: ignore[arg-type]
    verdict = make_service(**LOCAL).decide(make_request())
    assert verdict.source != "llm" and "no_tool_call" in verdict.fallback_reason


def test_json_object_mode_carries_the_schema_the_llama_cpp_python_way(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=_answer(json.dumps(GOOD)))
    service = make_service(**{**LOCAL, "llm_output_mode": "json_object"})

    assert service.decide(make_request()).source == "llm"
    sent = json.loads(route.calls.last.request.content)
    assert sent["response_format"]["type"] == "json_object"
    assert sent["response_format"]["schema"]["additionalProperties"] is False
    assert "tools" not in sent
    bad = make_service(**{**LOCAL, "llm_output_mode": "json_object"})
    route.mock(return_value=_answer(json.dumps({**GOOD, "confidence": 7})))
    assert "invalid_tool_call" in bad.decide(make_request(i=1)).fallback_reason


def test_auto_mode_uses_json_schema_for_a_model_declared_without_tools(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=_answer(json.dumps(GOOD)))
    service = make_service(
        llm_model="llama3.1:8b",
        llm_prices={"llama3.1:8b": {"free": True}},
        llm_capabilities={"llama3.1:8b": {"tool_calling": False}},
    )
    assert service.decide(make_request()).source == "llm"
    assert "response_format" in json.loads(route.calls.last.request.content)
