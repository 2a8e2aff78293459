"""Verdicts never block the bot loop: an LLM that takes 3 s per answer, a real sidecar over
HTTP, and the strategy's gate asking once per loop."""

from __future__ import annotations

import time
from datetime import timedelta

from deploy.live import serve
from fastapi.testclient import TestClient
from verdicts.support import make_request

from context_service.api.app import create_app
from context_service.client.gate import VerdictGate
from context_service.client.http import HttpContextClient
from context_service.risk.refusals import Refusal
from llm.chat_server import _ChatHandler

LLM_SECONDS = 3.0
LOOP_SECONDS = 0.5  # a bot loop (Freqtrade's internals.process_throttle_secs is 5 s)
SIDECAR_TIMEOUT_S = 2.0  # the strategy's per-request timeout: shorter than the LLM call


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
        gate = VerdictGate(client, "bot-1", min_confidence=0.5, max_wait_s=60, asynchronous=True)
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
        for bad in (
            {**body, "pair": "BTC/USDT\n"},
            {**body, "candle_time": "9999-12-31T23:59:59Z", "snapshot": "x"},
            {**body, "snapshot": {**body["snapshot"], "rsi": "NaN"}},
            {"bot_id": "x" * 10_000},
        ):
            assert http.post("/v1/verdicts/ask", json=bad).status_code == 422
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
    assert len([c for c in _ChatHandler.seen if c["path"] == "/v1/chat/completions"]) == 1


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
            asynchronous=True,
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
