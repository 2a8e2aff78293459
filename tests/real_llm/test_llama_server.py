"""The sidecar's LLM path against a real model on a real OpenAI-compatible server.

A 135M-parameter model gives poor verdicts; what is tested is the path: our client and request
shape against a real server, real model output through strict validation, honest fallback
reasons, and usage and cost accounting (a free local model under zero money caps).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from verdicts.support import T0, make_request

from context_service.models import Constraint, Evidence, Goal, Provenance

from .conftest import CONTEXT_WINDOW, MODEL_ALIAS

pytestmark = pytest.mark.real_llm

# A local model nobody prices: marked free; money caps at zero prove they do not apply to it.
LOCAL: dict[str, Any] = {
    "llm_model": MODEL_ALIAS,
    "llm_api_key": None,
    "llm_prices": {MODEL_ALIAS: {"free": True}},
    "llm_capabilities": {MODEL_ALIAS: {"context_window": CONTEXT_WINDOW}},
    "llm_max_output_tokens": 120,
    # Generous: a 135M model answers in seconds on an idle core, but this machine is shared.
    "llm_timeout_s": 600.0,
    "llm_max_retries": 0,
    "cap_bot_daily_usd": "0",
    "cap_global_daily_usd": "0",
    "cap_monthly_usd": "0",
}
# What a failed answer may be recorded as: the model's output did not validate.
VALIDATION_REASONS = {"invalid_tool_call", "malformed_tool_call", "no_tool_call"}
SOURCE = Provenance(source="operator")


def _seed(service) -> None:
    service.upsert(
        "bot-1",
        [
            Goal(id="goal-dd", summary="Keep drawdown under 10%", provenance=SOURCE),
            Constraint(id="c-size", summary="Never risk more than 2% per trade", provenance=SOURCE),
            Evidence(
                id="news-etf",
                summary="Spot bitcoin ETF inflows hit a monthly high",
                tags={"category": "news"},
                provenance=Provenance(source="feed"),
                observed_at=T0 - timedelta(minutes=20),
            ),
        ],
    )


def _report(label: str, verdicts: list) -> None:
    outcomes = Counter(v.source for v in verdicts)
    reasons = Counter(v.fallback_reason for v in verdicts if v.source != "llm")
    print(f"\n[{label}] sources {dict(outcomes)}; fallback reasons {dict(reasons)}")
    for v in verdicts:
        print(
            f"  {v.pair} {v.candle_time:%H:%M} {v.source:6} {v.action.value:4} "
            f"conf={v.confidence:.2f} tokens={v.prompt_tokens}+{v.completion_tokens} "
            f"cost=${v.cost_usd:.6f} latency={v.latency_ms:.0f}ms rationale={v.rationale[:60]!r}"
        )


def _llm_audit(service) -> list[dict]:
    entries = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    return [
        e.payload["providers"]["llm"] for e in entries if "llm" in e.payload.get("providers", {})
    ]


def test_json_verdicts_from_a_real_model(make_service, llama_server: str) -> None:
    service = make_service(llm_base_url=llama_server, llm_output_mode="json_object", **LOCAL)
    _seed(service)

    verdicts = [service.decide(make_request(i=i, rsi=35.0 + 10 * i)) for i in range(2)]
    _report("json_object", verdicts)

    calls = _llm_audit(service)
    assert len(calls) == 2  # every ask reached the server: no money cap held a free model back
    for call, verdict in zip(calls, verdicts, strict=True):
        usage = call["usage"]
        assert usage["prompt_tokens"] > 100 and usage["completion_tokens"] > 0  # real counts
        assert call["cost_usd"] == 0 and verdict.cost_usd == 0
        assert call["content"]  # the model's own text, kept for the audit
        if verdict.source == "llm":
            assert verdict.action.value in {"buy", "sell", "hold"}
            assert 0 <= verdict.confidence <= 1
            assert set(verdict.evidence_ids) <= {"goal-dd", "c-size", "news-etf", "ta:BTC/USDT:1h"}
            assert (verdict.prompt_tokens, verdict.completion_tokens) == (
                usage["prompt_tokens"],
                usage["completion_tokens"],
            )
        else:
            reason = verdict.fallback_reason.rsplit("llm:", 1)[-1]
            assert reason in VALIDATION_REASONS, verdict.fallback_reason
    # Grammar-constrained JSON from the server: at least one answer is a valid verdict.
    assert any(v.source == "llm" for v in verdicts)
    usage = service.usage_report(bot_id="bot-1")
    print(f"  usage counters: {usage}")


def test_tools_mode_gives_a_verdict_or_an_honest_reason(make_service, llama_server: str) -> None:
    """llama.cpp's server without a function-calling chat format: whatever it does with tools,
    the sidecar either validates a real tool call or records why it could not."""
    service = make_service(llm_base_url=llama_server, llm_output_mode="tools", **LOCAL)

    verdict = service.decide(make_request())
    _report("tools", [verdict])

    if verdict.source != "llm":
        reason = verdict.fallback_reason.rsplit("llm:", 1)[-1]
        assert reason in VALIDATION_REASONS | {"http_4xx", "http_5xx"}, verdict.fallback_reason
    # Whatever happened, the server is fine and the next JSON ask still works.
    assert httpx.get(f"{llama_server}/models", timeout=5).status_code == 200
    again = make_service(llm_base_url=llama_server, llm_output_mode="json_object", **LOCAL)
    again.decide(make_request(i=1))
    assert len(_llm_audit(again)) == 2  # the tools ask and this one, both answered by the server


def test_the_request_our_client_sends_is_accepted_as_is(llama_server: str) -> None:
    """The exact JSON-mode request goes through the server's own request validation."""
    from verdicts.support import make_settings

    from context_service.llm.request_shape import request_kwargs, sampling_for

    settings = make_settings(llm_base_url=llama_server, llm_output_mode="json_object", **LOCAL)
    body = request_kwargs(
        sampling_for(settings),
        [{"role": "system", "content": "Reply with the JSON verdict."},
         {"role": "user", "content": "Candidate: ENTRY on BTC/USDT. Answer now."}],
        [],
    )  # fmt: skip
    answer = httpx.post(f"{llama_server}/chat/completions", json=body, timeout=600)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    print(f"\n[raw] {data['choices'][0]['message']['content']!r} usage={data['usage']}")
    assert data["usage"]["prompt_tokens"] > 0
