"""LLM parameter suggestions: always recorded, applied only when enabled and in bounds."""

from __future__ import annotations

import httpx
import pytest
import respx
from verdicts.support import CHAT_URL, completion, make_request, tool_call, verdict_call


def _answer(value: float) -> httpx.Response:
    suggestion = tool_call(
        "suggest_adjustment",
        {"parameter": "min_confidence", "value": value, "reason": "noisy"},
        call_id="call_2",
    )
    return httpx.Response(200, json=completion([verdict_call(), suggestion]))


@pytest.mark.parametrize(
    ("allow", "value", "applied", "why"),
    [
        (False, 0.7, False, "disabled"),
        (True, 0.7, True, "within bounds"),
        (True, 0.2, False, "outside bounds"),
    ],
)
def test_suggestions_are_logged_and_applied_only_within_bounds(
    make_service, llm_mock: respx.MockRouter, allow: bool, value: float, applied: bool, why: str
) -> None:
    llm_mock.post(CHAT_URL).mock(return_value=_answer(value))
    service = make_service(
        allow_adjustments=allow, adjustment_bounds={"min_confidence": (0.5, 0.9)}
    )

    verdict = service.decide(make_request())

    assert verdict.source == "llm"  # a suggestion never changes the verdict
    [entry] = service.adjustments("bot-1")["suggestions"]
    assert entry["parameter"] == "min_confidence" and entry["value"] == value
    assert entry["applied"] is applied and why in entry["why"]
    assert entry["verdict_id"] == verdict.verdict_id
    assert service.adjustments("bot-1")["applied"] == ({"min_confidence": value} if applied else {})
