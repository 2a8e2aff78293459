"""Prices: the pinned LiteLLM map, CTX_LLM_PRICES merged over it, cached tokens, free models."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx
from pydantic import ValidationError
from verdicts.support import CHAT_URL, completion, make_request, make_settings, verdict_call

from context_service.llm.pricing import (
    ModelPrice,
    UnknownModelPrice,
    pinned_prices,
    pinned_version,
    price_for,
)


def test_the_pinned_map_prices_current_models() -> None:
    assert pinned_version()  # the LiteLLM version the copy was taken from
    assert price_for({}, "gpt-5") == ModelPrice(Decimal("1.25"), Decimal("10"), Decimal("0.125"))
    assert price_for({}, "gpt-4.1-mini").cached_input_per_million == Decimal("0.1")
    assert price_for({}, "openai/gpt-4o-mini") == price_for({}, "gpt-4o-mini")
    assert len(pinned_prices()) > 1000


def test_overrides_add_and_correct_field_by_field() -> None:
    settings = make_settings(
        llm_prices={
            "gpt-5": {"cached_input": "0.05"},
            "house-model": {"input": "1", "output": "2"},
            "llama3.1:8b": {"free": True},
        }
    )
    gpt5 = price_for(settings.llm_prices, "gpt-5")
    assert (gpt5.input_per_million, gpt5.cached_input_per_million) == (
        Decimal("1.25"),
        Decimal("0.05"),
    )
    assert price_for(settings.llm_prices, "house-model").output_per_million == Decimal(2)
    assert price_for(settings.llm_prices, "llama3.1:8b").is_free
    assert price_for(settings.llm_prices, "gpt-4.1-mini").input_per_million == Decimal("0.4")


def test_unknown_models_are_refused_until_priced() -> None:
    with pytest.raises(UnknownModelPrice, match="free"):
        price_for({}, "my-local-model")
    settings = make_settings(llm_prices={"my-local-model": {"output": "1"}})
    with pytest.raises(UnknownModelPrice):  # an output price alone cannot bound the cost
        price_for(settings.llm_prices, "my-local-model")


@pytest.mark.parametrize(
    "bad",
    [
        {"m": {"input": "NaN", "output": "1"}},
        {"m": {"input": "Infinity", "output": "1"}},
        {"m": {"input": "-1", "output": "1"}},
        {"m": {"input": "1e9", "output": "1"}},
        {"m": {"input": "cheap", "output": "1"}},
        {"m": {}},
        {"m": {"free": True, "input": "1"}},
        {"m": {"input": "1", "output": "1", "currency": "EUR"}},
        {"m": "free"},
    ],
)
def test_bad_price_entries_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        make_settings(llm_prices=bad)
    assert make_settings(llm_prices={"m": {"input": "1", "output": "1"}}).llm_prices["m"]


def test_cached_prompt_tokens_cost_the_cached_rate() -> None:
    price = ModelPrice(Decimal("0.4"), Decimal("1.6"), Decimal("0.1"))
    # 976 * 0.4 + 1024 * 0.1 + 100 * 1.6 = 652.8 micro-dollars, rounded up
    assert price.cost_micros(2000, 100, cached_prompt_tokens=1024) == 653
    assert price.cost_micros(2000, 100, cached_prompt_tokens=9999) == 360  # clamped to the prompt
    # A cached rate above the input rate (a bad override) never makes caching cost more.
    odd = ModelPrice(Decimal("0.4"), Decimal("1.6"), Decimal("5"))
    assert odd.cost_micros(2000, 0, cached_prompt_tokens=2000) == 800


def test_the_endpoints_cached_tokens_are_billed_at_the_cached_rate(
    make_service, llm_mock: respx.MockRouter
) -> None:
    body = completion([verdict_call()], prompt_tokens=2000, completion_tokens=50)
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 1536}
    llm_mock.post(CHAT_URL).mock(return_value=httpx.Response(200, json=body))
    service = make_service()

    verdict = service.decide(make_request())

    # gpt-4.1-mini: 0.40 input, 0.10 cached input, 1.60 output (USD / 1M)
    # 464 * 0.40 + 1536 * 0.10 + 50 * 1.60 = 419.2 micro-dollars, rounded up
    assert verdict.cost_usd == pytest.approx(420 / 1e6)
    [entry] = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    assert entry.payload["providers"]["llm"]["cached_prompt_tokens"] == 1536


@pytest.mark.parametrize("cached", [-5, "lots", 10**12, True])
def test_nonsense_cached_counts_never_lower_the_cost_below_the_input_rate_wrongly(
    make_service, llm_mock: respx.MockRouter, cached
) -> None:
    body = completion([verdict_call()], prompt_tokens=2000, completion_tokens=50)
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
    llm_mock.post(CHAT_URL).mock(return_value=httpx.Response(200, json=body))
    verdict = make_service().decide(make_request())
    if cached == 10**12:  # clamped to the prompt: every prompt token at the cached rate
        assert verdict.cost_usd == pytest.approx(280 / 1e6)  # 2000 * 0.10 + 50 * 1.60
    else:
        assert verdict.cost_usd == pytest.approx(880 / 1e6)  # 2000 * 0.40 + 50 * 1.60


def test_a_free_local_model_is_not_stopped_by_the_money_caps_but_by_the_call_caps(
    make_service, llm_mock: respx.MockRouter
) -> None:
    llm_mock.post(CHAT_URL).mock(
        return_value=httpx.Response(200, json=completion([verdict_call()], model="llama3.1:8b"))
    )
    service = make_service(
        llm_model="llama3.1:8b",
        llm_prices={"llama3.1:8b": {"free": True}},
        cap_bot_daily_usd="0",
        cap_global_daily_usd="0",
        cap_monthly_usd="0",
        rate_bot_per_minute=2,
    )

    verdicts = [service.decide(make_request(i=i)) for i in range(3)]

    assert [v.source for v in verdicts[:2]] == ["llm", "llm"]
    assert all(v.cost_usd == 0 for v in verdicts[:2])
    assert verdicts[2].source != "llm" and "rate_limited_bot" in verdicts[2].fallback_reason


def test_a_priced_model_is_stopped_by_a_zero_money_cap(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(
        return_value=httpx.Response(200, json=completion([verdict_call()]))
    )
    verdict = make_service(cap_bot_daily_usd="0").decide(make_request())
    assert "budget_exhausted" in verdict.fallback_reason and not route.called


def test_prices_from_the_environment_are_validated(monkeypatch) -> None:
    from context_service.settings import Settings

    monkeypatch.setenv("CTX_LLM_PRICES", '{"m": {"input": "NaN", "output": "1"}}')
    with pytest.raises(ValidationError, match="finite"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("CTX_LLM_PRICES", "not json")
    with pytest.raises(Exception, match="llm_prices"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("CTX_LLM_PRICES", '{"m": {"free": true}}')
    assert price_for(Settings(_env_file=None).llm_prices, "m").is_free  # type: ignore[call-arg]
