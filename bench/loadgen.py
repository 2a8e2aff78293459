"""An open-loop HTTP/1.1 load generator on asyncio, light enough not to be what it measures.

The first generator (httpx's sync client on 64 threads) cost about 1 ms of CPU per request and
made its own threads wait for the GIL: at 200 requests/s on a 2-core machine its latencies
carried several milliseconds that were the generator's, not the service's. This one sends
pre-encoded requests over keep-alive connections from one event loop (tens of microseconds per
request), so what it reports is the service's answer time.

The generator's own garbage collector is off while it sends (what it allocates in a run is
bounded by the run): its full collections took 15-30 ms, which a scheduled-time latency would
have charged to the service.

Latency is measured from the moment a request was *scheduled*, not from when it was written:
a request that waits for a free connection, or for the loop, is charged that wait (no
coordinated omission). Requests are sent on schedule, never waiting for earlier answers.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass, field

MAX_CONNECTIONS = 64


@dataclass
class Outcome:
    """What the run saw: latencies (ms) of the answered requests and answers by source."""

    latencies: list[float] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    def count(self, source: str, ok: bool) -> None:
        self.sources[source] = self.sources.get(source, 0) + 1
        self.errors += 0 if ok else 1


def encode(host: str, port: int, path: str, headers: dict[str, str], body: dict) -> bytes:
    """One complete ``POST`` request, ready to write."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}", "", ""]
    return "\r\n".join(lines).encode() + payload


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Write one request, read its answer (status and body; Content-Length framing)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def _source(status: int, body: bytes) -> str:
    if status != 200:
        return str(status)
    try:
        return str(json.loads(body).get("source", "ok"))
    except (ValueError, AttributeError):
        return "unreadable"


async def _run(
    host: str, port: int, requests: list[bytes], rate: float, total: int
) -> tuple[Outcome, float]:
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    opened = 0
    outcome = Outcome()
    loop = asyncio.get_running_loop()

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        nonlocal opened
        if idle.empty() and opened < MAX_CONNECTIONS:
            opened += 1
            return await asyncio.open_connection(host, port)
        return await idle.get()

    async def one(request: bytes, scheduled: float) -> None:
        try:
            reader, writer = await connection()
        except OSError:
            outcome.count("error", False)
            return
        try:
            status, body = await _exchange(reader, writer, request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            outcome.count("error", False)
            return
        outcome.latencies.append((loop.time() - scheduled) * 1000)
        outcome.count(_source(status, body), status == 200)
        idle.put_nowait((reader, writer))

    tasks = []
    begin = loop.time()
    for k in range(total):
        scheduled = begin + k / rate
        pause = scheduled - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.ensure_future(one(requests[k % len(requests)], scheduled)))
    await asyncio.gather(*tasks)
    wall = loop.time() - begin
    while not idle.empty():
        idle.get_nowait()[1].close()
    return outcome, wall


def open_loop(
    base: str, headers: dict[str, str], path: str, bodies: list[dict], rate: float, duration: float
) -> tuple[Outcome, float]:
    """Send ``rate`` requests per second for ``duration`` seconds to ``base`` + ``path``
    (``http://host:port``); the outcome and the wall time the run took (last answer)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    requests = [encode(host, int(port), path, headers, body) for body in bodies]
    total = int(rate * duration)
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        outcome, _ = asyncio.run(_run(host, int(port), requests, rate, total))
        return outcome, time.perf_counter() - started
    finally:
        gc.enable()
