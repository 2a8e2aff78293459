"""Sidecar memory (RSS) while verdicts arrive for many distinct bot ids.

Starts a private redis-server on a free port and the sidecar (``python -m context_service
serve``: loopback, no token, so any bot id is accepted and only the LRU bound holds the state
down) against it, then sends ``--bots`` verdict requests, each for a new bot id, from a few
client threads. Prints the sidecar's RSS (``/proc/<pid>/status``) before, every
``--report-every`` requests, and after; ``--json`` prints the figures as JSON.
``--code-dir`` runs the sidecar from another checkout (to compare with an older version).

    python bench/bot_memory.py [--bots 20000] [--json] [--code-dir ../main]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, free_port, start_redis, verdict_body, wait_ready


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run(bots: int, report_every: int, code_dir: Path) -> dict:
    redis_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_redis(redis_port, Path(data_dir))
        env = {
            **os.environ,
            "PYTHONPATH": str(code_dir),
            "CTX_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CTX_LLM_ENABLED": "false",
            "CTX_RETENTION_INTERVAL_S": "0",
        }
        env.pop("CTX_API_TOKEN", None)  # loopback, no token: every bot id is accepted
        sidecar = subprocess.Popen(
            [
                *(sys.executable, "-m", "context_service", "serve"),
                *("--port", str(port), "--log-level", "warning"),
            ],
            cwd=code_dir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        samples: list[dict] = []
        errors = 0
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz")
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                client.post("/v1/verdicts", json=verdict_body(0, "warm-up")).raise_for_status()
                samples.append({"requests": 0, "rss_mb": round(rss_mb(sidecar.pid), 1)})
                started = time.perf_counter()

                def one(i: int) -> bool:
                    body = verdict_body(i % 1000, f"b{i:06d}")
                    return client.post("/v1/verdicts", json=body).status_code == 200

                with ThreadPoolExecutor(max_workers=8) as pool:
                    for start in range(0, bots, report_every):
                        chunk = range(start, min(bots, start + report_every))
                        errors += sum(not ok for ok in pool.map(one, chunk))
                        done = chunk.stop
                        samples.append({"requests": done, "rss_mb": round(rss_mb(sidecar.pid), 1)})
                        print(
                            f"{done}/{bots} bot ids, RSS {samples[-1]['rss_mb']} MB",
                            file=sys.stderr,
                        )
                seconds = time.perf_counter() - started
        finally:
            sidecar.terminate()
            sidecar.wait(timeout=20)
            server.kill()
            server.wait()
    return {
        "code_dir": str(code_dir),
        "bots": bots,
        "errors": errors,
        "seconds": round(seconds, 1),
        "rss_mb_start": samples[0]["rss_mb"],
        "rss_mb_end": samples[-1]["rss_mb"],
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, default=20_000)
    parser.add_argument("--report-every", type=int, default=2_000)
    parser.add_argument("--code-dir", type=Path, default=REPO)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.bots, args.report_every, args.code_dir.resolve())
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"code: {result['code_dir']}")
    print(f"{'requests':>9} {'RSS MB':>8}")
    for sample in result["samples"]:
        print(f"{sample['requests']:>9} {sample['rss_mb']:>8}")
    print(
        f"{result['bots']} distinct bot ids in {result['seconds']} s, {result['errors']} errors: "
        f"RSS {result['rss_mb_start']} -> {result['rss_mb_end']} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
