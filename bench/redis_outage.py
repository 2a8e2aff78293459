"""Verdict latency before, during and after a Redis outage, over HTTP on loopback.

Starts a private redis-server on a free port (never the machine's Redis) and the sidecar
(uvicorn, rules verdicts) against it, then sends ``--rate`` verdict requests per second, open
loop (each with the bots' 2 s timeout), through four phases of ``--phase`` seconds each:
``before`` the outage, ``during`` (the redis-server is killed with SIGKILL), ``after`` (restarted
on the same port), ``settled`` (the following phase). Prints p50/p99/max and the status codes of
each phase; ``--json`` prints the rows as JSON. Targets: every answer during the outage within
250 ms (a 503), latency back to normal within seconds of recovery.

    python bench/redis_outage.py [--rate 50] [--phase 5] [--json] [--code-dir ../main]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, free_port, percentile, start_redis, verdict_body, wait_ready

BOT_TIMEOUT_S = 2.0
PHASES = ("before", "during", "after", "settled")


def run_sidecar(port: int, redis_url: str) -> None:
    import logging

    import uvicorn

    from context_service.api import create_app
    from context_service.settings import Settings

    logging.disable(logging.CRITICAL)  # the outage is logged on every request: not measured
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url,
        llm_enabled=False,
        retention_interval_s=0,
    )
    uvicorn.run(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def load(client: httpx.Client, rate: float, seconds: float, offset: int) -> list[tuple]:
    """(latency ms, status) of ``rate * seconds`` requests sent on schedule."""
    results: list[tuple] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        started = time.perf_counter()
        try:
            status = client.post("/v1/verdicts", json=verdict_body(i, "bot-1")).status_code
        except httpx.TimeoutException:
            status = "timeout"
        except httpx.HTTPError:
            status = "error"
        with lock:
            results.append(((time.perf_counter() - started) * 1000, status))

    begin = time.perf_counter()
    with ThreadPoolExecutor(max_workers=128) as pool:
        for k in range(int(rate * seconds)):
            pause = begin + k / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one, (offset + k) % 20_000)  # candles stay in the past
    return results


def row(phase: str, results: list[tuple]) -> dict:
    latencies = [ms for ms, _ in results]
    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "phase": phase,
        "requests": len(results),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "statuses": statuses,
    }


def run(rate: float, phase_s: float, code_dir: Path = REPO) -> list[dict]:
    import tempfile

    redis_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_redis(redis_port, Path(data_dir))
        sidecar = subprocess.Popen(
            [sys.executable, __file__, "--sidecar", str(port), f"redis://127.0.0.1:{redis_port}/0"],
            cwd=code_dir,
            env={**os.environ, "PYTHONPATH": str(code_dir)},
        )
        rows = []
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz")
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=BOT_TIMEOUT_S) as client:
                for i in range(200):  # warm up
                    client.post("/v1/verdicts", json=verdict_body(i, "bot-1"))
                for index, phase in enumerate(PHASES):
                    if phase == "during":
                        server.kill()
                        server.wait()
                    if phase == "after":
                        server = start_redis(redis_port, Path(data_dir))
                    print(f"phase {phase}: {rate:g} req/s for {phase_s:g} s", file=sys.stderr)
                    rows.append(row(phase, load(client, rate, phase_s, index * 5_000)))
        finally:
            sidecar.terminate()
            sidecar.wait(timeout=10)
            server.kill()
            server.wait()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--phase", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--code-dir", type=Path, default=REPO, help="run the sidecar from another checkout"
    )
    parser.add_argument("--sidecar", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sidecar:
        run_sidecar(int(args.sidecar[0]), args.sidecar[1])
        return 0
    rows = run(args.rate, args.phase, args.code_dir.resolve())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'phase':<9} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses")
    for r in rows:
        print(
            f"{r['phase']:<9} {r['requests']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} "
            f"{r['max_ms']:>8}  {r['statuses']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
