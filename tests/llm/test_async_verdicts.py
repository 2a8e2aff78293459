"""Verdicts never block the bot loop: an LLM that takes 3 s per answer, a real sidecar over
HTTP, and the strategy's gate with its defaults (asynchronous asks) asking once per loop; the
route's answers, bounds and hostile input. The whole strategy under Freqtrade's own loop:
tests/strategy/test_slow_llm_loop.py; outages and several sidecars: test_async_outages.py."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
from deploy.live import serve
from fastapi.testclient import TestClient
from verdicts.support import make_request

from context_service.api.app import create_app
from context_service.client.base import ContextUnavailable
from context_service.client.gate import VerdictGate
from context_service.client.http import HttpContextClient
from context_service.risk.refusals import Refusal
from context_service.verdicts.pending import PendingVerdicts
from llm.chat_server import _ChatHandler

LLM_SECONDS = 3.0
LOOP_SECONDS = 0.5  # a bot loop (Freqtrade's internals.process_throttle_secs is 5 s)
SIDECAR_TIMEOUT_S = 2.0  # the strategy's per-request timeout: shorter than the LLM call
JSON = {"Content-Type": "application/json"}


def test_a_slow_llm_never_refuses_an_entry_for_a_timeout_and_enters_on_the_next_loop(
    make_service, local_llm: str
) -> None:
    _ChatHandler.delay_s = LLM_SECONDS
    _ChatHandler.action = "buy"
    service = make_service(llm_base_url=local_llm, llm_timeout_s=10.0, llm_max_retries=0)
    request = make_request()
    app = create_app(service=service)
    with serve(app) as url:
        client = HttpContextClient(url, timeout_s=SIDECAR_TIMEOUT_S)
        gate = VerdictGate(client, "bot-1", min_confidence=0.5, max_wait_s=60)  # asks by default
        answers: list[tuple[bool, str, bool]] = []  # (allowed, reason, ready before the loop)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # Whether the sidecar already had the verdict when this loop started.
            table = getattr(app.state, "pending_verdicts", None)
            ready = table is not None and table.in_progress() == 0
            gate.fetch(request.snapshot, as_of=request.candle_time + timedelta(hours=1))
            answer = gate.entry_allowed(request.pair, request.candle_time)
            answers.append((answer.allowed, answer.reason, ready))
            if answer.refusal != Refusal.verdict_pending:
                break
            time.sleep(LOOP_SECONDS)
        client.close()

    reasons = [reason for _, reason, _ in answers]
    assert answers[-1][0] is True, reasons  # the entry was made
    # Every refusal before it said "pending": none was a timeout or an unavailable engine.
    assert set(reasons[:-1]) == {str(Refusal.verdict_pending)}
    assert gate.stats.unavailable == 0
    # The first loop that started after the sidecar had the verdict made the entry.
    first_ready = next(i for i, (_, _, ready) in enumerate(answers) if ready)
    assert first_ready == len(answers) - 1
    assert len(answers) >= 3  # the LLM really took several loops
    assert len([c for c in _ChatHandler.seen if c["path"] == "/v1/chat/completions"]) == 1


def _hostile_asks(body: dict) -> list[tuple[dict | bytes, int]]:
    """Bad asks and the status each must get: nothing is started by any of them."""
    snap = body["snapshot"]
    far = "9999-12-31T23:00:00Z"
    return [
        ({**body, "candle_time": far, "snapshot": {**snap, "candle_time": far}}, 422),
        ({**body, "pair": "BTC/USDT\n", "snapshot": {**snap, "pair": "BTC/USDT\n"}}, 422),
        ({**body, "bot_id": "bot-1\n"}, 422),
        ({**body, "snapshot": {**snap, "rsi": "NaN"}}, 422),
        ({**body, "candle_time": 12345.5}, 422),
        ({**body, "candidate": ["entry"]}, 422),
        ({"bot_id": "x" * 10_000}, 422),
        (b"{" + b'"x": "' + b"a" * 2_000_000 + b'"}', 413),  # over CTX_MAX_BODY_BYTES
    ]


def test_ask_answers_pending_then_the_verdict_and_refuses_bad_input(
    make_service, local_llm: str
) -> None:
    _ChatHandler.delay_s = 0.5
    token = "ask-test-token-0123456789"
    service = make_service(llm_base_url=local_llm, api_token=token)
    body = make_request().model_dump(mode="json")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(service=service), headers=auth) as http:
        first = http.post("/v1/verdicts/ask", json=body)
        assert first.status_code == 202 and first.json()["status"] == "pending"
        table = http.app.state.pending_verdicts  # type: ignore[attr-defined]
        for bad, status in _hostile_asks(body):
            if isinstance(bad, bytes):
                sent = http.post("/v1/verdicts/ask", content=bad, headers=JSON)
            else:
                sent = http.post("/v1/verdicts/ask", json=bad)
            assert sent.status_code == status, (bad if isinstance(bad, dict) else "huge", sent)
            # The next good ask still works (and is the same ask: nothing new started).
            assert http.post("/v1/verdicts/ask", json=body).status_code in (200, 202)
        assert table.event_counts()["started"] == 1
        deadline = time.monotonic() + 20
        while True:
            answer = http.post("/v1/verdicts/ask", json=body)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            assert answer.status_code == 202
            time.sleep(0.1)
        assert answer.status_code == 200 and answer.json()["source"] == "llm"
        # Asked again: the same verdict, no second LLM call.
        again = http.post("/v1/verdicts/ask", json=body)
        assert again.json()["verdict_id"] == answer.json()["verdict_id"]
        metrics = http.get("/metrics").text
    assert len([c for c in _ChatHandler.seen if c["path"] == "/v1/chat/completions"]) == 1
    assert 'ctx_verdict_asks_total{event="started"} 1.0' in metrics
    assert 'ctx_verdict_asks_total{event="completed"} 1.0' in metrics
    assert 'ctx_http_requests_total{method="POST",route="/v1/verdicts/ask",status="202"}' in metrics


def test_a_rules_verdict_comes_back_in_the_first_ask(make_service) -> None:
    """Without the LLM the chain takes milliseconds: the ask that starts it waits for it, so
    the bot enters on the loop the candle closed, as with the waiting route."""
    service = make_service(llm=False, llm_enabled=False, verdict_provider="rules")
    with TestClient(create_app(service=service), base_url="http://127.0.0.1") as http:
        answer = http.post("/v1/verdicts/ask", json=make_request().model_dump(mode="json"))
    assert answer.status_code == 200 and answer.json()["source"] == "rules"


def test_asks_beyond_the_bounds_are_refused_and_start_nothing(make_service, local_llm: str) -> None:
    _ChatHandler.hold = threading.Event()  # every LLM call runs until released
    service = make_service(llm_base_url=local_llm, llm_timeout_s=10.0)
    app = create_app(service=service)
    app.state.pending_verdicts = PendingVerdicts(
        service.decide_live, max_in_progress=2, max_in_progress_per_bot=1
    )
    ask = "/v1/verdicts/ask"
    one, two = make_request(0), make_request(1)
    with serve(app) as url, httpx.Client(base_url=url, timeout=5) as http:
        assert http.post(ask, json=one.model_dump(mode="json")).status_code == 202
        same_bot = http.post(ask, json=two.model_dump(mode="json"))
        assert same_bot.status_code == 429 and same_bot.headers["retry-after"] == "5"
        assert same_bot.json()["message"] == "too many verdict asks in progress for bot bot-1 (1)"
        other = make_request(0, bot_id="bot-2").model_dump(mode="json")
        assert http.post(ask, json=other).status_code == 202
        third = http.post(ask, json=make_request(0, bot_id="bot-3").model_dump(mode="json"))
        assert third.status_code == 503 and "in progress (2)" in third.json()["message"]
        # The bot's client takes a refusal as "no verdict" (fail-closed), with the reason.
        client = HttpContextClient(url, timeout_s=SIDECAR_TIMEOUT_S)
        refused = "HTTP 429 on /v1/verdicts/ask: too many verdict asks in progress for bot bot-1"
        with pytest.raises(ContextUnavailable, match=refused):
            client.ask(two)
        _ChatHandler.hold.set()
        deadline = time.monotonic() + 20
        while (verdict := client.ask(one)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert verdict.source == "llm"
        # Room again: the refused ask now starts.
        assert http.post(ask, json=two.model_dump(mode="json")).status_code in (200, 202)
        client.close()
    llm_calls = [c for c in _ChatHandler.seen if c["path"] == "/v1/chat/completions"]
    assert len(llm_calls) == 3  # one, other, then two: the refused asks cost nothing


def test_a_verdict_later_than_the_maximum_wait_is_not_used(make_service, local_llm: str) -> None:
    _ChatHandler.delay_s = 1.0
    service = make_service(llm_base_url=local_llm)
    request = make_request()
    now = [0.0]
    with serve(create_app(service=service)) as url:
        client = HttpContextClient(url, timeout_s=SIDECAR_TIMEOUT_S)
        gate = VerdictGate(
            client,
            "bot-1",
            min_confidence=0.5,
            max_wait_s=30,
            clock=lambda: now[0],
        )
        as_of = request.candle_time + timedelta(hours=1)
        assert gate.fetch(request.snapshot, as_of=as_of) is None  # pending
        now[0] = 31.0  # the gate's clock: half a minute later the verdict is still not used
        deadline = time.monotonic() + 20
        while gate.is_pending(request.pair, "entry", request.candle_time):
            assert time.monotonic() < deadline
            gate.fetch(request.snapshot, as_of=as_of)
            time.sleep(0.1)
        client.close()
    answer = gate.entry_allowed(request.pair, request.candle_time)
    assert not answer.allowed and answer.refusal == Refusal.verdict_late
