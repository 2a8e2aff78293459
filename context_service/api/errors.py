"""Clear 422 messages: every problem named by where it is and what is wrong."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from context_service.keys import InvalidBotId


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


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidBotId, invalid_bot_id)  # type: ignore[arg-type]
