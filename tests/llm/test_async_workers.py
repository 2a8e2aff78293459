"""``serve --workers 2``: a bot's asks land on either worker process (a fresh connection each
time), and the slow LLM call still runs once: the worker that runs it claims it in Redis, the
other answers "pending" without starting anything, and either answers the verdict."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from deploy.live import serve_workers
from redis_procs import redis7_server_binary
from verdicts.support import make_request

from llm.chat_server import _ChatHandler

ASK = "/v1/verdicts/ask"


def test_two_worker_processes_run_a_slow_ask_once(tmp_path: Path, local_llm: str) -> None:
    binary = redis7_server_binary()
    if binary is None:
        pytest.skip("needs redis-server 7 or later (the LLM ledger): apt-get install redis-server")
    _ChatHandler.delay_s = 2.0
    _ChatHandler.action = "buy"
    env = {
        "CTX_LLM_ENABLED": "true",
        "CTX_LLM_BASE_URL": local_llm,
        "CTX_LLM_TIMEOUT_S": "10",
        "CTX_LLM_MAX_RETRIES": "0",
    }
    body = make_request().model_dump(mode="json")
    with serve_workers(tmp_path, workers=2, env=env, redis_binary=binary) as base:
        answers: list[httpx.Response] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answers.append(httpx.post(f"{base}{ASK}", json=body, timeout=5))  # a new connection
            if answers[-1].status_code != 202:
                break
            time.sleep(0.1)
        assert answers[-1].status_code == 200, answers[-1].text
        assert {a.status_code for a in answers[:-1]} == {202} and len(answers) >= 5
        verdict = answers[-1].json()
        assert verdict["source"] == "llm"
        for _ in range(6):  # whichever worker answers: the same verdict, no new call
            again = httpx.post(f"{base}{ASK}", json=body, timeout=5).json()
            assert again["verdict_id"] == verdict["verdict_id"]
        calls = [c for c in _ChatHandler.seen if c["path"] == "/v1/chat/completions"]
        assert len(calls) == 1
