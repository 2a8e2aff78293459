"""``serve --workers 2``: a bot's asks land on either worker process (a fresh connection each
time), and the slow LLM call still runs once: the worker that runs it claims it in Redis, the
other answers "pending" without starting anything, and either answers the verdict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from loopback import free_port
from redis_procs import RedisProcess, redis7_server_binary
from verdicts.support import make_request

from llm.chat_server import _ChatHandler

ASK = "/v1/verdicts/ask"


def test_two_worker_processes_run_a_slow_ask_once(tmp_path: Path, local_llm: str) -> None:
    binary = redis7_server_binary()
    if binary is None:
        pytest.skip("needs redis-server 7 or later (the LLM ledger): apt-get install redis-server")
    _ChatHandler.delay_s = 2.0
    _ChatHandler.action = "buy"
    redis_server = RedisProcess(free_port(), tmp_path / "redis", binary=binary)
    redis_server.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTX_")}
    env.update(
        CTX_REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0",
        CTX_JOURNAL_DIR=str(tmp_path / "journal"),
        CTX_RETENTION_INTERVAL_S="0",
        CTX_LLM_ENABLED="true",
        CTX_LLM_BASE_URL=local_llm,
        CTX_LLM_TIMEOUT_S="10",
        CTX_LLM_MAX_RETRIES="0",
    )
    command = [sys.executable, "-m", "context_service", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    body = make_request().model_dump(mode="json")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) >= 2, "uvicorn should run two worker processes"
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
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        redis_server.kill()
