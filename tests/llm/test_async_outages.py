"""Asynchronous verdict asks through outages and across sidecars: a restart with an ask pending,
a restart after the verdict was made, two sidecars on one Redis, and Redis going away while the
LLM call runs. Real uvicorn or TestClient apps, a loopback OpenAI-compatible server, a real
Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from deploy.live import serve
from fastapi.testclient import TestClient
from loopback import free_port
from redis_procs import RedisProcess, redis7_server_binary
from verdicts.support import NOW, make_request, make_settings

from context_service.api.app import create_app
from context_service.client.gate import VerdictGate
from context_service.client.http import HttpContextClient
from context_service.keys import Keyspace
from context_service.llm.client import LLMClient
from context_service.memory import connect
from context_service.risk.refusals import Refusal
from context_service.service import ContextService
from llm.chat_server import _ChatHandler

ASK = "/v1/verdicts/ask"
PAIR = "BTC/USDT"


def _llm_calls() -> int:
    return len([c for c in _ChatHandler.seen if c["path"] == "/v1/chat/completions"])


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _asked_until_ready(http, body: dict) -> httpx.Response:
    """Ask as a bot does until the verdict is there; every answer before it is "pending"."""
    answers: list[httpx.Response] = []
    _until(lambda: answers.append(http.post(ASK, json=body)) or answers[-1].status_code != 202)
    assert answers[-1].status_code == 200, answers[-1].text
    return answers[-1]


def test_a_restart_while_an_ask_is_pending_loses_nothing_that_matters(
    make_service, local_llm: str, redis_client, keyspace: Keyspace
) -> None:
    lost = threading.Event()
    _ChatHandler.hold = lost  # the first LLM call never answers: it dies with its process
    _ChatHandler.action = "buy"
    request = make_request()
    as_of = request.candle_time + timedelta(hours=1)
    claim = keyspace.bot("bot-1").verdict_ask("entry", int(request.candle_time.timestamp()), PAIR)
    now = [0.0]
    port = free_port()
    old_app = create_app(service=make_service(llm_base_url=local_llm, llm_timeout_s=30.0))
    try:
        with serve(old_app, port=port) as url:
            client = HttpContextClient(url, timeout_s=2.0)
            gate = VerdictGate(client, "bot-1", 0.5, max_wait_s=60, clock=lambda: now[0])
            assert gate.fetch(request.snapshot, as_of=as_of) is None
            assert gate.entry_allowed(request.pair, request.candle_time).refusal == (
                Refusal.verdict_pending
            )
            _until(lambda: _llm_calls() == 1)
        now[0] = 10.0  # the sidecar is down: fail-closed, and the gate remembers the ask
        assert gate.fetch(request.snapshot, as_of=as_of) is None
        answer = gate.entry_allowed(request.pair, request.candle_time)
        assert answer.refusal == Refusal.engine_unavailable

        _ChatHandler.hold = None
        _ChatHandler.delay_s = 0.5
        restarted = create_app(service=make_service(llm_base_url=local_llm))  # same Redis
        with serve(restarted, port=port):
            now[0] = 20.0
            # The dead process's claim still stands: pending, and nothing started twice.
            assert gate.fetch(request.snapshot, as_of=as_of) is None
            assert gate.is_pending(request.pair, "entry", request.candle_time)
            table = restarted.state.pending_verdicts
            assert table.event_counts().get("started", 0) == 0 and _llm_calls() == 1
            redis_client.pexpire(claim, 1)  # its TTL has passed (the longest the work takes)
            time.sleep(0.05)
            now[0] = 40.0
            _until(lambda: gate.fetch(request.snapshot, as_of=as_of) is not None)
        client.close()
        answer = gate.entry_allowed(request.pair, request.candle_time)
        assert answer.allowed and answer.verdict is not None and answer.verdict.source == "llm"
        assert _llm_calls() == 2  # the lost call, and the one the re-ask started
    finally:
        lost.set()  # let the "dead" call end before the test's keys are cleaned up
        old = old_app.state.pending_verdicts
        _until(lambda: old.in_progress() == 0, seconds=40)


def test_a_verdict_made_before_a_restart_is_answered_without_a_second_llm_call(
    make_service, local_llm: str
) -> None:
    body = make_request().model_dump(mode="json")
    app = create_app(service=make_service(llm_base_url=local_llm))
    with TestClient(app, base_url="http://127.0.0.1") as http:
        made = _asked_until_ready(http, body).json()
    assert made["source"] == "llm"
    restarted = create_app(service=make_service(llm_base_url=local_llm))
    with TestClient(restarted, base_url="http://127.0.0.1") as http:
        again = http.post(ASK, json=body)
    assert again.status_code == 200, again.text
    assert again.json()["verdict_id"] == made["verdict_id"]  # the same verdict, from Redis
    assert restarted.state.pending_verdicts.event_counts() == {"elsewhere": 1}
    assert _llm_calls() == 1


def test_two_sidecars_on_one_redis_run_an_ask_once(make_service, local_llm: str) -> None:
    """A bot's asks may reach either replica: only the first one asked runs the chain."""
    _ChatHandler.hold = threading.Event()
    body = make_request().model_dump(mode="json")
    one = create_app(service=make_service(llm_base_url=local_llm))
    two = create_app(service=make_service(llm_base_url=local_llm))
    with (
        TestClient(one, base_url="http://127.0.0.1") as first,
        TestClient(two, base_url="http://127.0.0.1") as second,
    ):
        assert first.post(ASK, json=body).status_code == 202
        _until(lambda: _llm_calls() == 1)  # replica one is running it
        for _ in range(3):
            pending = second.post(ASK, json=body)
            assert pending.status_code == 202 and pending.json()["status"] == "pending"
        assert two.state.pending_verdicts.event_counts() == {"elsewhere": 3}
        _ChatHandler.hold.set()
        answer = _asked_until_ready(second, body)
        made = first.post(ASK, json=body)
    assert answer.json()["verdict_id"] == made.json()["verdict_id"]
    assert _llm_calls() == 1


@pytest.fixture
def redis7(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private Redis 7 (the LLM ledger needs it) that the test may kill and start again."""
    binary = redis7_server_binary()
    if binary is None:
        pytest.skip("needs redis-server 7 or later: apt-get install redis-server")
    server = RedisProcess(free_port(), tmp_path / "redis", binary=binary)
    server.start()
    yield server
    server.kill()


def test_a_redis_outage_mid_ask_is_a_clear_503_and_the_next_ask_works(
    redis7: RedisProcess, local_llm: str
) -> None:
    _ChatHandler.hold = threading.Event()
    url = f"redis://127.0.0.1:{redis7.port}/0"
    settings = make_settings(llm_base_url=local_llm, redis_url=url, llm_timeout_s=10.0)
    service = ContextService(
        settings,
        connect(settings),
        Keyspace(prefix="async-outage"),
        llm=LLMClient.from_settings(settings),
        clock=lambda: NOW,
    )
    body = make_request().model_dump(mode="json")
    app = create_app(service=service)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as api:
        first = api.post(ASK, json=body)
        assert first.status_code == 202, first.text
        _until(lambda: _llm_calls() == 1)
        redis7.kill()  # while the LLM call runs
        _ChatHandler.hold.set()
        table = app.state.pending_verdicts
        _until(lambda: table.in_progress() == 0)

        failed = api.post(ASK, json=body)
        assert failed.status_code == 503 and failed.headers["retry-after"] == "5"
        message = failed.json()["message"]
        assert message == "Redis unavailable (ConnectionError); nothing was written"
        assert app.state.redis_health.down
        fast = api.post(ASK, json=body)  # refused before the route while Redis is down
        assert fast.status_code == 503 and "failing fast" in fast.json()["message"]

        redis7.start()
        app.state.redis_health._next_probe = 0.0  # the probe interval has passed
        answer = _asked_until_ready(api, body)
    assert answer.json()["source"] == "llm"
    assert table.event_counts()["failed"] == 1 and table.event_counts()["started"] == 2
    service.close()
