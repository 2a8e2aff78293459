"""Fail fast while Redis is unreachable: a 503 in microseconds instead of timeouts per request.

Every ``/v1`` request first asks the :class:`~context_service.memory.health.RedisHealth` flag;
while it is tripped the request is answered 503 (with ``Retry-After``) before any route code
runs, except the one probe per interval that checks whether Redis is back. The flag is tripped by
the Redis error handler (:mod:`context_service.api.errors`) on a connection error or timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from context_service.memory.health import RedisHealth

BODY = json.dumps(
    {"message": "Redis unavailable (failing fast until it answers again); nothing was written"}
).encode()


class RedisGate:
    def __init__(self, app: ASGIApp, health_of: Callable[[], RedisHealth | None]) -> None:
        self.app = app
        self.health_of = health_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        health = self.health_of() if scope["type"] == "http" else None
        if health is None or not scope["path"].startswith("/v1/") or health.available():
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode()),
                    (b"retry-after", b"1"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": BODY})
