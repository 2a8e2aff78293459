"""Verdict and context latency of the sidecar over HTTP on loopback.

Starts three processes: the sidecar (uvicorn, real Redis under a private key prefix that is
wiped afterwards), a stub OpenAI-compatible LLM, and this load generator. Scenarios:

* ``cache-hit``: verdicts answered from the replay cache (recorded once, then asked again),
* ``llm``: every verdict a cache miss, through the stub LLM (``--stub-delay-ms`` per call),
  both at 50 and 200 requests per second, open loop (requests are sent on schedule, never
  waiting for earlier answers), each for ``--duration`` seconds;
* ``in-process rules``: the backtest path, ``decide(request, ["rules"])`` in this process with
  evidence in memory (as of each candle) and the audit trail in Redis;
* ``context``: ``POST /v1/context`` (budget 1500, a new as-of time each request, so every
  request is a full synthesis) on a bot with 5,000 evidence objects; with the default manifest
  entries (the included ones) and without entries (``manifest_entries: none``).

Prints a table; ``--json`` prints a JSON list of rows instead. Target: cache-hit p99 < 20 ms at
200 req/s.

    python bench/verdicts.py [--duration 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if (REPO.parent / "shared" / "tiktoken").is_dir():  # offline machines: the cached encoding
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(REPO.parent / "shared" / "tiktoken"))
TOKEN = "bench-token-0123456789abcdef"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
RATES = (50, 200)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the stub LLM (child process) ---------------------------------------------------------
def run_stub(port: int, delay_ms: float) -> None:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4.1-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {
                                    "name": "submit_verdict",
                                    "arguments": json.dumps(
                                        {
                                            "action": "buy",
                                            "confidence": 0.75,
                                            "rationale": "stub",
                                            "evidence_ids": [],
                                        }
                                    ),
                                },
                            }
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 800, "completion_tokens": 30, "total_tokens": 830},
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response and no Nagle: otherwise delayed ACKs add ~40 ms per call.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay_ms / 1000)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


# --- the sidecar (child process) ----------------------------------------------------------
def run_sidecar(port: int, prefix: str, redis_url: str, llm_url: str) -> None:
    import logging

    import uvicorn

    from context_service.api import create_app
    from context_service.api.serve import tune_gc
    from context_service.keys import Keyspace
    from context_service.llm.client import LLMClient
    from context_service.memory import connect
    from context_service.service import ContextService
    from context_service.settings import Settings

    logging.disable(logging.INFO)  # access logs would measure the terminal, not the service
    tune_gc()  # as `python -m context_service serve` does
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url,
        api_token=TOKEN,
        llm_enabled=True,
        llm_base_url=llm_url,
        llm_api_key="bench",
        rate_bot_per_minute=1_000_000,
        rate_global_per_minute=1_000_000,
        cap_bot_daily_usd=1_000,
        cap_global_daily_usd=1_000,
        cap_monthly_usd=1_000,
        max_body_bytes=5_000_000,
    )
    service = ContextService(
        settings, connect(settings), Keyspace(prefix=prefix), llm=LLMClient.from_settings(settings)
    )
    uvicorn.run(
        create_app(service=service),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


# --- load generation ----------------------------------------------------------------------
def verdict_body(i: int, bot: str, pair: str = "BTC/USDT") -> dict:
    moment = T0 + timedelta(hours=i)
    close = 100.0 + (i % 50)
    return {
        "bot_id": bot,
        "pair": pair,
        "candle_time": moment.isoformat(),
        "snapshot": {
            "pair": pair,
            "timeframe": "1h",
            "candle_time": moment.isoformat(),
            "close": close,
            "rsi": 55.0,
            "macd": 1.0,
            "macd_signal": 0.5,
            "macd_hist": 0.5,
            "ema_fast": close * 0.99,
            "ema_slow": close * 0.97,
            "ema_trend": close * 0.9,
            "atr": close * 0.01,
            "bb_lower": close * 0.95,
            "bb_middle": close,
            "bb_upper": close * 1.05,
            "volume": 1000.0,
        },
        "as_of": moment.isoformat(),
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, as the sidecar's own usage report computes it."""
    from context_service.llm.usage import percentile as sorted_percentile

    return sorted_percentile(sorted(values), q)


def _sequential(client: httpx.Client, bodies: list[dict], scenario: str) -> dict:
    """One row: ``POST /v1/context`` for each body in turn, latency per request."""
    timings = []
    for body in bodies:
        started = time.perf_counter()
        client.post("/v1/context", json=body).raise_for_status()
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "scenario": scenario,
        "rate": "sequential",
        "requests": len(bodies),
        "errors": 0,
        "achieved_rps": None,
        "p50_ms": round(percentile(timings, 50), 2),
        "p99_ms": round(percentile(timings, 99), 2),
        "max_ms": round(max(timings), 2),
        "sources": {},
    }


def open_loop(
    client: httpx.Client, path: str, bodies: list[dict], rate: float, duration: float
) -> dict:
    """Send ``rate`` requests per second for ``duration`` seconds on schedule."""
    total = int(rate * duration)
    latencies: list[float] = []
    sources: dict[str, int] = {}
    errors = 0
    lock = threading.Lock()

    def one(body: dict) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            response = client.post(path, json=body)
            ok = response.status_code == 200
            source = response.json().get("source", "ok") if ok else str(response.status_code)
        except httpx.HTTPError:
            ok, source = False, "error"
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            sources[source] = sources.get(source, 0) + 1
            errors += 0 if ok else 1

    begin = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for k in range(total):
            target = begin + k / rate
            pause = target - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one, bodies[k % len(bodies)])
    wall = time.perf_counter() - begin
    return {
        "requests": total,
        "errors": errors,
        "achieved_rps": round(total / wall, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "sources": sources,
    }


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], env=dict(os.environ), cwd=REPO)


def wipe(redis_url: str, prefix: str) -> None:
    import redis

    from context_service.keys import Keyspace

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=Keyspace(prefix).pattern, count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def evidence_batch(start: int, count: int) -> list[dict]:
    categories = ("news", "event", "risk", "market-data")
    return [
        {
            "id": f"ev-{i}",
            "summary": f"Item {i}: exchange flows and funding shift for pair {i % 40}, "
            f"sentiment {'positive' if i % 3 else 'negative'}",
            "tags": {"category": categories[i % 4]},
            "provenance": {"source": "bench"},
            "observed_at": (T0 - timedelta(minutes=i % 5000)).isoformat(),
            "severity": ("low", "medium", "high", "critical")[i % 4],
            "confidence": round(0.3 + (i % 7) / 10, 2),
        }
        for i in range(start, start + count)
    ]


def run(duration: float, stub_delay_ms: float, redis_url: str) -> list[dict]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    stub_port, api_port = free_port(), free_port()
    stub = spawn("_stub", str(stub_port), str(stub_delay_ms))
    sidecar = spawn("_serve", str(api_port), prefix, redis_url, f"http://127.0.0.1:{stub_port}/v1")
    rows: list[dict] = []
    try:
        base = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{base}/readyz")
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=base, headers=headers, limits=limits, timeout=30) as client:
            bots = [f"bench-{n}" for n in range(4)]
            # A fleet's question pattern: 4 bots x 50 pairs at the latest candle. Each decision is
            # recorded once (through the stub LLM), then asked again and again.
            recorded = [verdict_body(0, bots[i % 4], f"P{i // 4}/USDT") for i in range(200)]
            # Twice: a bot's context holds all its pairs' snapshots, so it settles only after
            # every pair has been pushed once.
            for body in recorded * 2:
                client.post("/v1/verdicts", json=body).raise_for_status()
            fresh = iter(range(10_000, 10_000_000))
            for rate in RATES:
                row = open_loop(client, "/v1/verdicts", recorded, rate, duration)
                rows.append({"scenario": "cache-hit", "rate": rate, **row})
            for rate in RATES:
                misses = [
                    verdict_body(next(fresh), bots[k % 4]) for k in range(int(rate * duration))
                ]
                row = open_loop(client, "/v1/verdicts", misses, rate, duration)
                rows.append({"scenario": f"llm (stub {stub_delay_ms:g} ms)", "rate": rate, **row})
            for start in range(0, 5_000, 1_000):
                client.post(
                    "/v1/evidence",
                    json={"bot_id": "bench-ctx", "objects": evidence_batch(start, 1_000)},
                ).raise_for_status()
            # Every request a different as-of time: a full synthesis each time, never a reuse.
            bodies = [
                {
                    "bot_id": "bench-ctx",
                    "budget_tokens": 1500,
                    "as_of": (T0 + timedelta(seconds=k)).isoformat(),
                }
                for k in range(100_000)
            ]
            client.post("/v1/context", json=bodies[-1]).raise_for_status()  # warm the mirror
            rows.append(_sequential(client, bodies[:100], "context 5k objects"))
            lean = [{**body, "manifest_entries": "none"} for body in bodies[200:300]]
            rows.append(_sequential(client, lean, "context 5k, no entries"))
            row = open_loop(client, "/v1/context", bodies[300:], 20, min(duration, 5))
            rows.append({"scenario": "context 5k objects", "rate": 20, **row})
        rows.append(in_process_rules(redis_url, prefix))
    finally:
        for process in (sidecar, stub):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        wipe(redis_url, prefix)
    return rows


def in_process_rules(redis_url: str, prefix: str, decisions: int = 2_000) -> dict:
    """Backtest path: ``decide(..., ["rules"])`` in-process, evidence in memory, as of each
    candle, audit and recent verdicts in Redis."""
    from context_service.keys import Keyspace
    from context_service.memory import connect
    from context_service.service import ContextService
    from context_service.settings import Settings
    from context_service.verdicts.models import VerdictRequest

    settings = Settings(_env_file=None, redis_url=redis_url)  # type: ignore[call-arg]
    service = ContextService(
        settings, connect(settings), Keyspace(prefix=prefix), evidence_store="memory"
    )
    pairs = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT")
    requests = [
        VerdictRequest.model_validate(verdict_body(k // len(pairs), "bt-bench", pairs[k % 5]))
        for k in range(decisions)
    ]
    timings = []
    for request in requests:
        started = time.perf_counter()
        service.decide(request, ["rules"])
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "scenario": "in-process rules",
        "rate": "sequential",
        "requests": decisions,
        "errors": 0,
        "achieved_rps": round(decisions / (sum(timings) / 1000), 1),
        "p50_ms": round(percentile(timings, 50), 2),
        "p99_ms": round(percentile(timings, 99), 2),
        "max_ms": round(max(timings), 2),
        "sources": {"rules": decisions},
    }


def print_table(rows: list[dict]) -> None:
    header = f"{'scenario':<24}{'rate':>11}{'sent':>7}{'err':>5}{'rps':>8}{'p50 ms':>9}"
    header += f"{'p99 ms':>9}{'max ms':>9}  sources"
    print(header)
    print("-" * len(header))
    for r in rows:
        rps = "" if r["achieved_rps"] is None else f"{r['achieved_rps']:.1f}"
        print(
            f"{r['scenario']:<24}{r['rate']!s:>11}{r['requests']:>7}{r['errors']:>5}{rps:>8}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}  {r['sources']}"
        )
    hits = [r for r in rows if r["scenario"] == "cache-hit" and r["rate"] == 200]
    if hits:
        verdict = "met" if hits[0]["p99_ms"] < 20 else "NOT met"
        print(f"\ntarget cache-hit p99 < 20 ms at 200 req/s: {verdict} ({hits[0]['p99_ms']} ms)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "_stub":
        run_stub(int(args[1]), float(args[2]))
        return 0
    if args and args[0] == "_serve":
        run_sidecar(int(args[1]), args[2], args[3], args[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--stub-delay-ms", type=float, default=20.0)
    parser.add_argument(
        "--redis-url", default=os.environ.get("CTX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    options = parser.parse_args(args)
    rows = run(options.duration, options.stub_delay_ms, options.redis_url)
    if options.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
