"""Verdict requests and the bot's recent verdicts."""

from __future__ import annotations

from typing import Annotated, Any

import redis
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from context_service.api.auth import authorize
from context_service.api.routes.deps import BotId, Service
from context_service.bounds import EventTime
from context_service.contract import Verdict, VerdictRequest
from context_service.service import ContextService
from context_service.verdicts.claims import AskClaims
from context_service.verdicts.pending import FIRST_ASK_WAIT_S, PendingVerdicts

router = APIRouter(tags=["verdicts"])
CLAIM_MARGIN_S = 10.0  # context synthesis, the rules, the audit write: well under it


@router.post("/verdicts", response_model=Verdict)
async def request_verdict(body: VerdictRequest, service: Service, request: Request) -> Response:
    """A verdict on a candidate signal (replay -> llm -> rules -> hold; source and reasons
    recorded). Entries need a ``buy`` verdict; the strategy's risk gates still apply."""
    authorize(request, body.bot_id)
    # The hot path. A decision that needs no remote provider (a replay hit, the rules) is a
    # few milliseconds of CPU between Redis round trips: it runs right here, on the event
    # loop, because handing it to a worker thread made it queue for the GIL behind the other
    # threads (docs/sidecar.md, "Speed"). One that reaches the LLM goes to a worker thread.
    # The verdict is serialized once (FastAPI would validate it again).
    verdict = service.decide_live_local(body) if service.settings.decide_on_loop else None
    if verdict is None:
        verdict = await run_in_threadpool(service.decide_live, body)
    return Response(verdict.model_dump_json(), media_type="application/json")


@router.post(
    "/verdicts/ask",
    response_model=Verdict,
    responses={
        202: {"description": "pending: ask again (the work runs once)"},
        429: {"description": "this bot has too many asks in progress: nothing started"},
        503: {"description": "too many asks in progress, Redis down, or the verdict failed"},
    },
)
async def ask_verdict(body: VerdictRequest, request: Request, service: Service) -> Response:
    """The verdict when it is ready (200), else ``{"status": "pending"}`` (202) while the
    chain completes in the background: a bot loop never waits for an LLM call. Ask again with
    the same request; the work is done once per bot, pair, candidate and candle. The ask that
    starts the work waits a moment for it (rules and replay answer at once). Refusals start
    nothing and are answered with ``Retry-After``: the bot refuses that entry (fail-closed)."""
    authorize(request, body.bot_id)
    table = pending_verdicts(request.app, service)
    result = await table.ask_waiting(body, FIRST_ASK_WAIT_S)
    if result.verdict is not None:
        return Response(result.verdict.model_dump_json(), media_type="application/json")
    if isinstance(result.error, redis.RedisError):
        raise result.error  # the same 503 (and fail-fast flag) as every route on a Redis outage
    if result.refused is not None:
        status = 429 if result.outcome == "busy_bot" else 503
        message = result.refused
        return JSONResponse(
            {"message": message, "detail": message},
            status_code=status,
            headers={"Retry-After": "5"},
        )
    return JSONResponse(
        {"status": "pending", "pending_s": round(result.pending_s, 3), "retry_after_s": 1},
        status_code=202,
    )


def pending_verdicts(app: Any, service: ContextService) -> PendingVerdicts:
    """The app's table of asked verdicts (built on first use; closed with the app)."""
    table = getattr(app.state, "pending_verdicts", None)
    if table is None:
        settings = service.settings
        parts = service.components
        # A claim outlives the longest the work can take: the LLM's attempts, plus a margin.
        work_s = settings.llm_timeout_s * (settings.llm_max_retries + 1) + CLAIM_MARGIN_S
        table = PendingVerdicts(
            service.decide_live,
            workers=settings.verdict_ask_workers,
            keep_s=settings.verdict_ask_keep_s,
            registry=parts.metrics.registry,
            claims=AskClaims(parts.redis, parts.keyspace, work_s, settings.verdict_ask_keep_s),
        )
        app.state.pending_verdicts = table
    return table


@router.get("/bots/{bot_id}/verdicts", response_model=list[Verdict])
def recent_verdicts(
    bot_id: BotId,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[Verdict]:
    """The bot's most recent verdicts, newest first."""
    return service.recent_verdicts(bot_id, limit)


@router.get("/bots/{bot_id}/adjustments")
def adjustments(bot_id: BotId, service: Service, as_of: EventTime | None = None) -> dict:
    """The adjustments in force as of ``as_of`` (default now) and the LLM's latest
    suggestions, newest first, each accepted or rejected with why."""
    return service.adjustments(bot_id, as_of)
