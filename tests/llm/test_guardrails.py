"""Circuit breaker and rate limits: over the limit means an immediate fallback, no call."""

from __future__ import annotations

from datetime import timedelta

import httpx
import respx
from verdicts.support import CHAT_URL, NOW, make_request, ok_response


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def test_breaker_opens_after_n_failures_and_closes_after_t(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=httpx.Response(401))  # not retried
    clock = Clock()
    service = make_service(clock=clock, breaker_failures=3, breaker_open_seconds=60)

    reasons = [service.decide(make_request(i)).fallback_reason for i in range(5)]

    assert reasons == ["replay:miss; llm:http_4xx"] * 3 + ["replay:miss; llm:breaker_open"] * 2
    assert route.call_count == 3
    [alert] = service.components.alerts.active()
    assert alert.key == "breaker:bot-1" and "http_4xx" in alert.message

    clock.now = NOW + timedelta(seconds=61)  # half-open: one call goes through
    route.mock(return_value=ok_response())
    verdict = service.decide(make_request(10))
    assert verdict.source == "llm" and route.call_count == 4
    assert service.components.alerts.active() == []  # a success closes the breaker and its alert


def test_breaker_reopens_at_once_when_the_trial_call_fails(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=httpx.Response(401))
    clock = Clock()
    service = make_service(clock=clock, breaker_failures=2, breaker_open_seconds=30)
    for i in range(2):
        service.decide(make_request(i))
    clock.now = NOW + timedelta(seconds=31)

    trial = service.decide(make_request(5))
    after = service.decide(make_request(6))

    assert trial.fallback_reason.endswith("llm:http_4xx")
    assert after.fallback_reason.endswith("llm:breaker_open")
    assert route.call_count == 3


def test_bot_rate_limit_falls_back_without_queueing(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    clock = Clock()
    service = make_service(clock=clock, rate_bot_per_minute=2)

    sources = [service.decide(make_request(i)).source for i in range(4)]
    other_bot = service.decide(make_request(0, bot_id="bot-2"))

    assert sources == ["llm", "llm", "rules", "rules"]
    assert service.decide(make_request(9)).fallback_reason == "replay:miss; llm:rate_limited_bot"
    assert other_bot.source == "llm"
    assert route.call_count == 3
    clock.now = NOW + timedelta(minutes=1)  # a new window
    assert service.decide(make_request(20)).source == "llm"


def test_global_rate_limit_spans_bots(make_service, llm_mock: respx.MockRouter) -> None:
    llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service(rate_global_per_minute=3)

    verdicts = [service.decide(make_request(i, bot_id=f"bot-{i}")) for i in range(5)]

    assert [v.source for v in verdicts] == ["llm"] * 3 + ["rules"] * 2
    assert verdicts[-1].fallback_reason == "replay:miss; llm:rate_limited_global"


def test_unknown_model_price_refuses_the_call(make_service, llm_mock: respx.MockRouter) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service(llm_model="some-unpriced-model")

    verdict = service.decide(make_request())

    assert verdict.fallback_reason == "replay:miss; llm:no_price" and route.call_count == 0
