"""Serve the sidecar for the duration of a test: an ASGI app with uvicorn in this process, or
``serve --workers N`` as its own processes, on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from loopback import free_port


@contextmanager
def serve(app, port: int | None = None) -> Iterator[str]:
    """Yield the base URL once ``/healthz`` answers; stop the server afterwards. ``port``: the
    one of an earlier server (a restart at the same address), else a free one."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_workers(
    workdir: Path, workers: int = 2, env: dict[str, str] | None = None, redis_binary: str = ""
) -> Iterator[str]:
    """``python -m context_service serve --workers N`` as an operator runs it, on a private
    redis-server; yield the base URL once ``/readyz`` answers and the worker processes exist;
    stop both afterwards."""
    from redis_procs import RedisProcess

    redis_server = RedisProcess(free_port(), workdir / "redis")
    if redis_binary:
        redis_server.binary = redis_binary
    redis_server.start()
    port = free_port()
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("CTX_")}
    process_env.update(
        CTX_REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0",
        CTX_JOURNAL_DIR=str(workdir / "journal"),
        CTX_RETENTION_INTERVAL_S="0",
        **(env or {}),
    )
    command = [sys.executable, "-m", "context_service", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=process_env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) >= workers, f"uvicorn should run {workers} worker processes"
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        redis_server.kill()
