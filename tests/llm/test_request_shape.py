"""Each model family gets a request it accepts (respx on the real openai SDK)."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
import respx
from pydantic import ValidationError
from verdicts.support import CHAT_URL, completion, make_request, make_settings, ok_response

from context_service.llm.capabilities import lookup
from context_service.llm.request_shape import sampling_for


def _sent(route: respx.Route) -> dict:
    return json.loads(route.calls.last.request.content)


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "gpt-5-nano-2025-08-07", "openai/gpt-5"])
def test_gpt5_gets_max_completion_tokens_no_temperature_and_a_reasoning_effort(
    make_service, llm_mock: respx.MockRouter, model: str
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service(llm_model=model, llm_max_output_tokens=300, llm_reasoning_tokens=1000)

    verdict = service.decide(make_request())

    assert verdict.source == "llm", verdict.fallback_reason
    sent = _sent(route)
    assert "max_tokens" not in sent and "temperature" not in sent
    assert sent["max_completion_tokens"] == 1300  # answer plus reasoning allowance
    assert sent["reasoning_effort"] == "low"
    assert sent["tool_choice"] == "required"


@pytest.mark.parametrize("model", ["o3", "o4-mini", "o3-mini"])
def test_o_series_gets_max_completion_tokens_and_its_nearest_effort(
    make_service, llm_mock: respx.MockRouter, model: str
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service(llm_model=model, llm_reasoning_effort="minimal")

    assert service.decide(make_request()).source == "llm"
    sent = _sent(route)
    assert "max_tokens" not in sent and "temperature" not in sent
    assert sent["max_completion_tokens"] == 300 + 2048
    assert sent["reasoning_effort"] == "low"  # the o-series has no "minimal"


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "gpt-4o-mini", "gpt-4.1"])
def test_classic_chat_models_get_max_tokens_and_the_temperature(
    make_service, llm_mock: respx.MockRouter, model: str
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service(llm_model=model, llm_temperature=0.2, llm_reasoning_tokens=5000)

    assert service.decide(make_request()).source == "llm"
    sent = _sent(route)
    assert sent["max_tokens"] == 300  # no reasoning allowance for a non-reasoning model
    assert sent["temperature"] == 0.2
    assert "max_completion_tokens" not in sent and "reasoning_effort" not in sent


def test_reasoning_tokens_are_reserved_and_billed_as_output(
    make_service, llm_mock: respx.MockRouter
) -> None:
    body = completion(
        [json.loads(ok_response().content)["choices"][0]["message"]["tool_calls"][0]],
        prompt_tokens=1000,
        completion_tokens=700,
        model="gpt-5-mini",
    )
    body["usage"]["completion_tokens_details"] = {"reasoning_tokens": 650}
    llm_mock.post(CHAT_URL).mock(return_value=httpx.Response(200, json=body))
    service = make_service(llm_model="gpt-5-mini", llm_reasoning_tokens=1000)

    verdict = service.decide(make_request())

    # gpt-5-mini (pinned LiteLLM map): 0.25 USD / 1M input, 2.00 USD / 1M output
    assert verdict.cost_usd == pytest.approx((1000 * 0.25 + 700 * 2.0) / 1e6)
    [entry] = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    llm = entry.payload["providers"]["llm"]
    assert llm["reasoning_tokens"] == 650
    # The reservation covered the whole completion limit at the output rate.
    assert llm["reserved_usd"] >= (1300 * 2.0 + llm["estimated_prompt_tokens"] * 0.25) / 1e6


def test_the_replay_key_follows_the_request_shape() -> None:
    gpt5 = sampling_for(make_settings(llm_model="gpt-5-mini")).replay_fields()
    classic = sampling_for(make_settings(llm_model="gpt-4.1-mini")).replay_fields()
    assert gpt5["temperature"] is None and gpt5["reasoning_effort"] == "low"
    assert gpt5["max_tokens"] == 300 + 2048
    assert classic == {"model": "gpt-4.1-mini", "temperature": 0.0, "max_tokens": 300}


def test_capability_table_lookup_and_declared_overrides() -> None:
    assert lookup("gpt-5-mini-2025-08-07").training_cutoff == date(2024, 5, 31)
    assert lookup("o1-mini").tool_calling is False
    assert lookup("gpt-4.1-mini").context_window == 1_047_576
    local = lookup("smollm2")
    assert (local.family, local.completion_limit, local.temperature) == (
        "unknown",
        "max_tokens",
        True,
    )
    settings = make_settings(
        llm_capabilities={"qwen2.5:7b": {"context_window": 32768, "tool_calling": False}}
    )
    declared = lookup("qwen2.5:7b", settings.llm_capabilities)
    assert declared.context_window == 32768 and not declared.tool_calling
    assert (
        sampling_for(
            make_settings(
                llm_model="qwen2.5:7b",
                **{"llm_capabilities": {"qwen2.5:7b": {"tool_calling": False}}},
            )
        ).output_mode
        == "json_schema"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"m": {"context_window": "huge"}},
        {"m": {"context_window": 10}},
        {"m": {"completion_limit": "max_output"}},
        {"m": {"tokenizer": "p50k_base"}},
        {"m": {"unknown_field": True}},
        {"m": {"training_cutoff": "9999-99-99"}},
    ],
)
def test_bad_capability_declarations_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        make_settings(llm_capabilities=bad)


def test_a_prompt_over_the_context_window_is_not_sent(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service(
        llm_model="tiny-local",
        llm_prices={"tiny-local": {"free": True}},
        llm_capabilities={"tiny-local": {"context_window": 256}},
    )

    verdict = service.decide(make_request())

    assert verdict.source != "llm" and "context_too_long" in verdict.fallback_reason
    assert not route.called
    # The next request with a model that fits still works.
    roomy = make_service(llm_model="gpt-4.1-mini")
    assert roomy.decide(make_request(i=1)).source == "llm"


def test_a_declared_tokenizer_counts_an_alias_in_its_encoding(make_service) -> None:
    service = make_service(
        llm_model="prod-deployment",
        llm_prices={"prod-deployment": {"input": "1.25", "output": "10"}},
        llm_capabilities={"prod-deployment": {"tokenizer": "o200k_base"}},
    )
    assert service.components.llm_client.shape.capabilities.tokenizer == "o200k_base"
    from context_service.engine.tokens import TokenCounter

    assert TokenCounter("o200k_base").encoding_name == "o200k_base"
    assert TokenCounter("prod-deployment").encoding_name == "cl100k_base"  # unknown alias
