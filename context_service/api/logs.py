"""Structured logs: one JSON object per line, and a request observer for the access log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from context_service.verdicts.metrics import ServiceMetrics

access_log = logging.getLogger("context_service.access")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; a message that is already JSON is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        message = record.getMessage()
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            entry.update(parsed)
        else:
            entry["message"] = message
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's) through one JSON handler on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our observer logs requests


def route_template(scope: Scope) -> str:
    """The matched route as a template with its router prefix (``/v1/bots/{bot_id}/stats``),
    so metrics labels stay few; ``unmatched`` for 404s."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not template:
        return "unmatched"
    path = scope.get("path", "")
    try:
        concrete = route.path_format.format(**scope.get("path_params", {}))  # type: ignore[union-attr]
    except (AttributeError, KeyError, IndexError, ValueError):
        return template
    # Nested routers report their own path only; the request path carries the prefix.
    return path[: len(path) - len(concrete)] + template if path.endswith(concrete) else template


class RequestObserver:
    """Access log line and Prometheus metrics for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics_of: Callable[[], ServiceMetrics | None]) -> None:
        self.app = app
        self.metrics_of = metrics_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            metrics = self.metrics_of()
            if metrics is not None:
                metrics.http_requests.labels(scope["method"], route, str(status)).inc()
                metrics.http_latency.labels(route).observe(elapsed)
            if route not in ("/healthz", "/metrics"):
                access_log.info(
                    json.dumps(
                        {
                            "event": "http_request",
                            "method": scope["method"],
                            "route": route,
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                        }
                    )
                )
