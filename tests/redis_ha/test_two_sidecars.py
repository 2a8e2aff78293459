"""Two real sidecar processes on one Redis serve the same bots: requests alternate between
them and nothing is lost, stale or double-counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from loopback import free_port
from redis_procs import RedisProcess
from verdicts.support import completion, make_request, verdict_call

from .conftest import _redis7

TOKEN = "two-sidecars-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2024, 5, 3, 12, tzinfo=UTC)
RATE_PER_MINUTE = 4


class _Chat(BaseHTTPRequestHandler):
    calls = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with type(self).lock:
            type(self).calls += 1
        body = json.dumps(completion([verdict_call("hold", 0.6)])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def llm_server() -> Iterator[str]:
    _Chat.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def redis7(tmp_path: Path) -> Iterator[str]:
    """A private Redis 7 (the LLM guardrails use EXPIRE ... NX)."""
    server = RedisProcess(free_port(), tmp_path / "redis", [], _redis7())
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.kill()


def _spawn(redis_url: str, llm_url: str, folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CTX_")},
        "CTX_REDIS_URL": redis_url,
        "CTX_API_TOKEN": TOKEN,
        "CTX_JOURNAL_DIR": str(folder / "journal"),
        "CTX_RETENTION_INTERVAL_S": "0",
        "CTX_LLM_ENABLED": "true",
        "CTX_LLM_BASE_URL": llm_url,
        "CTX_LLM_API_KEY": "sk-test",
        "CTX_VERDICT_PROVIDER": "llm",
        "CTX_RATE_BOT_PER_MINUTE": str(RATE_PER_MINUTE),
        "CTX_RATE_GLOBAL_PER_MINUTE": "1000",
    }
    folder.mkdir(parents=True)
    log = open(folder / "sidecar.log", "wb")  # noqa: SIM115  (the process owns it)
    process = subprocess.Popen(
        [sys.executable, "-m", "context_service", "serve", "--port", str(port)],
        env=env,
        cwd=folder,  # no .env file of the checkout is read
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process, f"http://127.0.0.1:{port}"


def _ready(process: subprocess.Popen, base: str, folder: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError((folder / "sidecar.log").read_text()[-2000:])


@pytest.fixture
def sidecars(redis7: str, llm_server: str, tmp_path: Path) -> Iterator[list[httpx.Client]]:
    started = [_spawn(redis7, llm_server, tmp_path / f"s{i}") for i in (1, 2)]
    for (process, base), i in zip(started, (1, 2), strict=True):  # both start at once
        _ready(process, base, tmp_path / f"s{i}")
    clients = [httpx.Client(base_url=base, headers=AUTH, timeout=20) for _, base in started]
    yield clients
    for client in clients:
        client.close()
    for process, _ in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _news(summary: str) -> dict:
    return {
        "bot_id": "bot-1",
        "objects": [
            {
                "id": "news-1",
                "summary": summary,
                "tags": {"category": "news"},
                "provenance": {"source": "feed"},
                "observed_at": (T0 - timedelta(hours=1)).isoformat(),
            }
        ],
    }


def _event(n: int, kind: str) -> dict:
    opened, closed = T0 + timedelta(hours=n), T0 + timedelta(hours=n, minutes=30)
    event = {
        "bot_id": "bot-1",
        "trade_id": n,
        "order_id": "close" if kind == "trade_closed" else f"o-{n}-{kind}",
        "event": kind,
        "pair": "BTC/USDT",
        "side": "buy" if kind == "entry_fill" else "sell",
        "time": (opened if kind == "entry_fill" else closed).isoformat(),
        "price": 100.0,
        "amount": 0.5,
        "stake": 50.0,
        "fee_quote": 0.05,
    }
    if kind == "trade_closed":
        event |= {"realized_profit": 1.0 if n % 3 else -2.0, "open_time": opened.isoformat()}
    return event


def test_two_sidecars_share_memory_ledger_and_rate_limits(sidecars) -> None:
    a, b = sidecars

    # memo invalidation across processes: a write on one is seen by the other's next read
    for writer, reader, text in ((a, b, "ETF approved"), (b, a, "ETF approval withdrawn")):
        assert writer.post("/v1/evidence", json=_news(text)).status_code == 200
        context = reader.post("/v1/context", json={"bot_id": "bot-1"}).json()
        assert text in context["text"]

    # trade events alternate between the two, every one sent twice (once to each, at the
    # same time): each is stored exactly once and both report the same stats
    events = [
        _event(n, k) for n in range(1, 31) for k in ("entry_fill", "exit_fill", "trade_closed")
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda pair: pair[0].post("/v1/trades/events", json=pair[1]),
                                [(c, e) for e in events for c in (a, b)]))  # fmt: skip
    assert all(r.status_code == 200 for r in answers)
    stored = [r.json() for r in answers]
    assert sum(1 for s in stored if s["stored"]) == len(events)  # one of each pair stored it
    assert sum(1 for s in stored if s["duplicate"]) == len(events)
    stats = [c.get("/v1/bots/bot-1/stats").json() for c in (a, b)]
    assert stats[0] == stats[1]
    assert stats[0]["trades"] == 30 and stats[0]["net_pnl"] == pytest.approx(20 * 1.0 - 10 * 2.0)

    # the LLM rate limit is one budget for both processes (per clock minute: keep the batch
    # inside one minute)
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    requests = [make_request(i).model_dump(mode="json") for i in range(10)]
    verdicts = [
        (a if i % 2 else b).post("/v1/verdicts", json=request).json()
        for i, request in enumerate(requests)
    ]
    by_llm = [v for v in verdicts if v["source"] == "llm"]
    assert len(by_llm) == RATE_PER_MINUTE == _Chat.calls
    assert all("rate" in (v.get("fallback_reason") or "") for v in verdicts if v["source"] != "llm")
    # and the ledger they charged is one ledger
    usage = [c.get("/v1/llm/usage").json() for c in (a, b)]
    assert usage[0] == usage[1]
    recent = [c.get("/v1/bots/bot-1/verdicts").json() for c in (a, b)]
    assert len(recent[0]) == 10 and recent[0] == recent[1]
