"""``serve`` refuses an open API on a non-loopback address."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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

    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return False
    return "State:\tZ" not in status.read_text()


@pytest.mark.parametrize(
    ("argv", "env", "reason"),
    [
        (["--workers", "0"], {"CTX_REDIS_URL": "redis://127.0.0.1:1/0"}, "between 1 and 32"),
        (["--workers", "33"], {"CTX_REDIS_URL": "redis://127.0.0.1:1/0"}, "between 1 and 32"),
        (["--workers", "2"], {}, "set CTX_REDIS_URL"),
    ],
)
def test_bad_worker_counts_are_refused_before_binding(monkeypatch, caplog, argv, env, reason):
    monkeypatch.delenv("CTX_REDIS_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(logs, "configure_logging", lambda level: None)
    get_settings.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="context_service.serve"):
            code = serve.main(["--port", "18788", *argv])
    finally:
        get_settings.cache_clear()
    assert code == 2
    [record] = caplog.records
    assert reason in json.loads(record.getMessage())["reason"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CTX_WORKERS", "nan"),
        ("CTX_WORKERS", "1e9"),
        ("CTX_PORT", "Infinity"),
        ("CTX_PORT", "x" * 5000),
        ("CTX_DECISION_SLOTS", "nan"),
        ("CTX_DECISION_SLOTS", "0"),
        ("CTX_DECISION_SLOTS", "1e400"),
        ("CTX_DECIDE_ON_LOOP", "yes\nno"),
        ("CTX_DECIDE_ON_LOOP", "\x1b[31m\x07" * 1000),  # an environment has no NUL
    ],
)
def test_unusable_settings_are_one_line_before_binding(monkeypatch, caplog, name, value) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setattr(logs, "configure_logging", lambda level: None)
    get_settings.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="context_service.serve"):
            assert serve.main(["--port", "18789"]) == 2
        [record] = caplog.records
        assert name in json.loads(record.getMessage())["reason"]
        # the same command with the setting mended gets as far as the bind check
        monkeypatch.delenv(name)
        monkeypatch.delenv("CTX_API_TOKEN", raising=False)
        get_settings.cache_clear()
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="context_service.serve"):
            assert serve.main(["--host", "0.0.0.0", "--port", "18789"]) == 2
        assert "CTX_API_TOKEN" in json.loads(caplog.records[0].getMessage())["reason"]
    finally:
        get_settings.cache_clear()


def test_workers_share_one_redis(tmp_path) -> None:
    """``serve --workers 2``: two processes on one port, one memory. A trade event written
    through one connection is seen through fresh connections, whichever worker answers."""
    import httpx
    from deploy.live import serve_workers

    with serve_workers(tmp_path, workers=2) as base:
        event = {
            "bot_id": "workers-bot",
            "trade_id": 1,
            "order_id": "close",
            "event": "trade_closed",
            "pair": "BTC/USDT",
            "side": "sell",
            "time": "2024-05-03T12:00:00+00:00",
            "price": 110.0,
            "amount": 1.0,
            "stake": 100.0,
            "realized_profit": 9.8,
            "open_time": "2024-05-03T07:00:00+00:00",
            "close_time": "2024-05-03T12:00:00+00:00",
        }
        stored = httpx.post(f"{base}/v1/trades/events", json=event, timeout=10)
        assert stored.json() == {"stored": True, "duplicate": False}
        # Fresh connections land on either worker; each sees the trade and knows it is stored.
        for _ in range(6):
            stats = httpx.get(f"{base}/v1/bots/workers-bot/stats", timeout=10).json()
            assert stats["trades"] == 1
            again = httpx.post(f"{base}/v1/trades/events", json=event, timeout=10).json()
            assert again == {"stored": False, "duplicate": True}
        bad = httpx.post(
            f"{base}/v1/trades/events",
            content=json.dumps({**event, "trade_id": 2}).replace("110.0", "NaN"),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert bad.status_code == 422
        assert httpx.get(f"{base}/v1/bots/workers-bot/stats", timeout=10).json()["trades"] == 1
