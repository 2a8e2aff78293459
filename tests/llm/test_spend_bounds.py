"""Spend stays bounded whatever the endpoint reports: the reservation is an upper bound, an
over-report closes the caps, every HTTP attempt is reserved and settled, crashed reservations
are reclaimed, impossible usage is a provider error."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from verdicts.support import CHAT_URL, NOW, completion, make_request, make_settings, verdict_call

from context_service.alerts import AlertSink
from context_service.api import create_app
from context_service.engine.tokens import TokenCounter
from context_service.llm.bound import prompt_bound
from context_service.llm.ledger import BudgetExhausted, CostLedger
from context_service.llm.prompt import build_messages
from context_service.llm.tools import TOOLS


def ledger(redis_client, keyspace, **caps: str) -> CostLedger:
    settings = make_settings(**{k: Decimal(v) for k, v in caps.items()})
    return CostLedger(redis_client, keyspace, settings, AlertSink(settings, redis_client, keyspace))


def reported(prompt_tokens: int, completion_tokens: int = 40):
    def answer(request: httpx.Request) -> httpx.Response:
        time.sleep(0.02)  # keep calls in flight together
        body = completion([verdict_call()], prompt_tokens=prompt_tokens)
        body["usage"]["completion_tokens"] = completion_tokens
        return httpx.Response(200, json=body)

    return answer


def test_the_bound_counts_every_byte_when_the_tokenizer_is_unknown() -> None:
    messages = build_messages(make_request(), "context line\n" * 50)
    bytes_bound = prompt_bound(TokenCounter("some-local-llama"), messages, TOOLS)
    assert bytes_bound.method == "utf8-bytes"
    sent = sum(len(m["content"].encode()) for m in messages)
    assert bytes_bound.tokens > sent  # every byte of the contents, the schema and the template


def test_an_over_report_charges_the_real_figure_and_closes_the_caps(redis_client, keyspace):
    book = ledger(redis_client, keyspace, cap_bot_daily_usd="1")
    reservation = book.reserve("bot-1", 1_000, NOW)
    settlement = book.settle(reservation, 1_500)  # the endpoint said 1.5x what could be billed

    assert settlement.over_reported
    status = book.status("bot-1", NOW)
    assert status["bot-daily"]["spent_usd"] == pytest.approx(0.0015)
    assert all(cap["closed"] for cap in status.values())
    with pytest.raises(BudgetExhausted) as refused:
        book.reserve("bot-2", 10, NOW)  # the global caps are closed for every bot
    assert refused.value.closed and "closed" in str(refused.value)
    alert = next(a for a in book.alerts.active() if a.key.startswith("over-report"))  # type: ignore[union-attr]
    assert alert.level == "critical" and alert.data["actual_usd"] == pytest.approx(0.0015)

    assert sorted(book.reopen("bot-1", NOW)) == ["bot-daily", "global-daily", "monthly"]
    book.settle(book.reserve("bot-1", 10, NOW), 10)
    assert not any(cap["closed"] for cap in book.status("bot-1", NOW).values())


def test_a_crashed_reservation_is_reclaimed_after_its_deadline(redis_client, keyspace):
    book = ledger(redis_client, keyspace, cap_bot_daily_usd="0.01")
    book.reserve("bot-1", 9_000, NOW, hold_s=1)  # the process dies before settling
    with pytest.raises(BudgetExhausted):
        book.reserve("bot-1", 2_000, NOW)
    time.sleep(1.1)

    late = book.reserve("bot-1", 2_000, NOW)  # reclaims the dead one first
    status = book.status("bot-1", NOW)["bot-daily"]
    assert status["reserved_usd"] == pytest.approx(0.002)
    assert status["reclaimed_usd"] == pytest.approx(0.009)
    book.settle(late, 1_000)
    assert book.open_reservations() == 0
    assert book.status("bot-1", NOW)["bot-daily"]["reserved_usd"] == 0


def test_a_settle_after_the_reclaim_charges_without_releasing_twice(redis_client, keyspace):
    book = ledger(redis_client, keyspace, cap_bot_daily_usd="0.01")
    slow = book.reserve("bot-1", 3_000, NOW, hold_s=1)
    time.sleep(1.1)
    other = book.reserve("bot-1", 1_000, NOW)  # reclaims ``slow``
    settlement = book.settle(slow, 2_000)
    assert settlement.was_reclaimed
    status = book.status("bot-1", NOW)["bot-daily"]
    assert status["reserved_usd"] == pytest.approx(0.001)  # ``other`` is still reserved
    assert status["spent_usd"] == pytest.approx(0.002)
    book.settle(other, 0)


@pytest.mark.parametrize("factor", [1.5, 10])
def test_100_concurrent_over_reporting_calls_stay_near_the_cap(
    make_service, llm_mock: respx.MockRouter, factor: float
) -> None:
    service = make_service(cap_global_daily_usd=Decimal("0.05"))
    counter = TokenCounter(service.settings.llm_model)
    bound = prompt_bound(counter, build_messages(make_request(), "x"), TOOLS)
    llm_mock.post(CHAT_URL).mock(side_effect=reported(int(bound.tokens * factor), 300))
    requests = [make_request(i, bot_id=f"bot-{i % 10}") for i in range(100)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        verdicts = list(pool.map(service.decide, requests))

    status = service.components.ledger.status(None, NOW)["global-daily"]
    assert status["closed"] and status["reserved_usd"] == 0
    reasons = {v.fallback_reason for v in verdicts if v.source != "llm"}
    if factor < 4:  # recorded at the real figure; the caps close on the first over-report
        by_llm = [v for v in verdicts if v.source == "llm"]
        assert by_llm and status["spent_usd"] == pytest.approx(
            sum(v.cost_usd for v in by_llm), abs=1e-6
        )
        # Only calls already in flight when the caps closed could add to the excess.
        assert status["spent_usd"] <= 0.05 * factor
    else:  # more than could have been sent: a provider error, charged the reservation
        assert "replay:miss; llm:bad_usage" in reasons
        assert status["spent_usd"] <= 0.05
    assert reasons <= {
        "replay:miss; llm:bad_usage",
        "replay:miss; llm:cap_closed",
        "replay:miss; llm:budget_exhausted",
    }


@pytest.mark.parametrize(
    ("prompt", "completion_tokens"), [(-5, 40), (900, -1), (10**12, 40), (900, 10**9)]
)
def test_negative_or_absurd_usage_is_a_provider_error(
    make_service, llm_mock: respx.MockRouter, prompt: int, completion_tokens: int
) -> None:
    llm_mock.post(CHAT_URL).mock(side_effect=reported(prompt, completion_tokens))
    service = make_service()
    verdict = service.decide(make_request())
    assert verdict.source == "rules" and verdict.fallback_reason == "replay:miss; llm:bad_usage"
    report = service.components.usage.report(NOW, "bot-1")
    day = report["bots"]["bot-1"]["day"]
    assert day["cost_usd"] >= 0 and day["failed_calls"] == 1
    status = service.components.ledger.status("bot-1", NOW)["bot-daily"]
    assert status["reserved_usd"] == 0
    assert status["closed"] is (prompt > 10**6 or completion_tokens > 10**6)  # absurd: closed


def test_every_retried_attempt_is_reserved_and_charged(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    service = make_service(llm_max_retries=2)
    verdict = service.decide(make_request())

    assert verdict.source == "rules" and route.call_count == 3
    [entry] = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    bound = entry.payload["providers"]["llm"]["estimated_prompt_tokens"]
    per_attempt = 0.40 * bound  # micro-dollars of the prompt of one request (gpt-4.1-mini)
    spent = service.components.ledger.status("bot-1", NOW)["bot-daily"]["spent_usd"]
    assert spent * 1e6 == pytest.approx(3 * per_attempt, abs=3)
    assert service.components.ledger.open_reservations() == 0


def test_an_operator_reopens_closed_caps_over_http(make_service, llm_mock) -> None:
    service = make_service(api_token="t" * 8 + "0123456789abcdef")
    book = service.components.ledger
    book.settle(book.reserve("bot-1", 100, NOW), 1_000)
    headers = {"Authorization": "Bearer " + "t" * 8 + "0123456789abcdef"}
    with TestClient(create_app(service=service)) as client:
        usage = client.get("/v1/llm/usage", headers=headers).json()
        assert usage["caps"]["global-daily"]["closed"] is True
        response = client.post(
            "/v1/llm/caps/reopen", json={"bot_id": "bot-1", "at": NOW.isoformat()}, headers=headers
        )
        assert response.status_code == 200
        assert sorted(response.json()["reopened"]) == ["bot-daily", "global-daily", "monthly"]
    assert not book.status("bot-1", NOW)["global-daily"]["closed"]
