"""``serve`` refuses an open API on a non-loopback address."""

from __future__ import annotations

import json
import logging

import pytest
from verdicts.support import make_settings

from context_service.api import logs, serve
from context_service.settings import get_settings

STRONG = "kQ3v9-Zp1xT_8mWf2LrB6yHc0dNs4uJe"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_without_token_is_allowed(host: str) -> None:
    assert serve.check_bind(make_settings(api_token=None), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_open_api_on_a_public_address_is_refused(host: str) -> None:
    problem = serve.check_bind(make_settings(api_token=None), host)
    assert problem is not None and "CTX_API_TOKEN" in problem
    assert serve.check_bind(make_settings(api_token=STRONG), host) is None


@pytest.mark.parametrize(
    "token", ["abc", "a" * 64, "change-me-change-me", "abababababababababababab"]
)
def test_weak_tokens_are_refused(token: str) -> None:
    problem = serve.check_bind(make_settings(api_token=token), "0.0.0.0")
    assert problem is not None and "too weak" in problem


def test_main_exits_before_binding(monkeypatch, caplog) -> None:
    monkeypatch.delenv("CTX_API_TOKEN", raising=False)
    # keep pytest's log capture: the real configure_logging replaces the root handlers
    monkeypatch.setattr(logs, "configure_logging", lambda level: None)
    get_settings.cache_clear()
    with caplog.at_level(logging.ERROR, logger="context_service.serve"):
        code = serve.main(["--host", "0.0.0.0", "--port", "18787"])
    get_settings.cache_clear()
    assert code == 2
    [record] = caplog.records
    assert json.loads(record.getMessage())["event"] == "refused_to_start"


def test_sigterm_stops_the_embedded_redis_with_the_sidecar(tmp_path) -> None:
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    import httpx
    from loopback import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTX_")}
    env.update(
        CTX_EMBEDDED_REDIS_PATH=str(tmp_path / "redis" / "context.db"),
        CTX_JOURNAL_DIR=str(tmp_path / "journal"),
        CTX_RETENTION_INTERVAL_S="0",
    )
    log_file = tmp_path / "serve.log"
    redis_pid = 0
    with log_file.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "context_service", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        found = re.search(r"embedded Redis running \(pid (\d+)\)", log_file.read_text())
        assert found, log_file.read_text()
        redis_pid = int(found.group(1))
        os.kill(redis_pid, 0)  # running

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises it
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(redis_pid):
            time.sleep(0.1)
        assert not _alive(redis_pid), "the embedded redis-server outlived the sidecar"
        assert (tmp_path / "redis").exists()
    finally:
        if process.poll() is None:
            process.kill()
        if redis_pid and _alive(redis_pid):  # never leave a server behind, even on failure
            os.kill(redis_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    from pathlib import Path

    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return False
    return "State:\tZ" not in status.read_text()
