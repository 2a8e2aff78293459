"""Clear 422 messages: every problem named by where it is and what is wrong."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from context_service.keys import InvalidBotId
from context_service.memory.health import UNREACHABLE
from context_service.models import MergeConflict

log = logging.getLogger("context_service.api")


def describe(error: dict[str, Any]) -> str:
    """``body.snapshot.rsi: Input should be less than or equal to 100``."""
    where = ".".join(str(part) for part in error.get("loc", ())) or "request"
    return f"{where}: {error.get('msg', 'invalid')}"


def _plain(error: dict[str, Any]) -> dict[str, Any]:
    # ``ctx`` may hold exception objects; ``input`` may echo large or secret payloads.
    return {k: v for k, v in error.items() if k in ("type", "loc", "msg")}


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_plain(e) for e in exc.errors()]
    return JSONResponse(
        status_code=422,
        content={
            "message": "invalid request; nothing was written: "
            + "; ".join(describe(e) for e in errors[:10])
            + (f"; and {len(errors) - 10} more" if len(errors) > 10 else ""),
            "detail": errors,
        },
    )


async def invalid_bot_id(request: Request, exc: InvalidBotId) -> JSONResponse:
    return JSONResponse(status_code=422, content={"message": str(exc), "detail": str(exc)})


async def merge_conflict(request: Request, exc: MergeConflict) -> JSONResponse:
    message = f"{exc}; nothing was written"
    return JSONResponse(status_code=422, content={"message": message, "detail": message})


async def redis_unavailable(request: Request, exc: redis.RedisError) -> JSONResponse:
    # Bots treat any non-200 as "no verdict" and refuse entries (fail closed); say why.
    health = getattr(request.app.state, "redis_health", None)
    if health is not None and isinstance(exc, UNREACHABLE):
        health.trip(exc)  # the next requests fail fast (api/redis_gate.py)
    log.error(
        json.dumps(
            {"event": "redis_unavailable", "path": request.url.path, "error": type(exc).__name__}
        )
    )
    return JSONResponse(
        status_code=503,
        content={"message": f"Redis unavailable ({type(exc).__name__}); nothing was written"},
        headers={"Retry-After": "5"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidBotId, invalid_bot_id)  # type: ignore[arg-type]
    app.add_exception_handler(MergeConflict, merge_conflict)  # type: ignore[arg-type]
    app.add_exception_handler(redis.RedisError, redis_unavailable)  # type: ignore[arg-type]
