"""Verdict requests and the bot's recent verdicts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from context_service.api.auth import authorize
from context_service.api.routes.deps import BotId, Service
from context_service.contract import Verdict, VerdictRequest

router = APIRouter(tags=["verdicts"])


@router.post("/verdicts", response_model=Verdict)
async def request_verdict(body: VerdictRequest, service: Service, request: Request) -> Response:
    """A verdict on a candidate signal (replay -> llm -> rules -> hold; source and reasons
    recorded). Entries need a ``buy`` verdict; the strategy's risk gates still apply."""
    authorize(request, body.bot_id)
    # The hot path: one hop to a worker thread for the blocking work, and the verdict
    # serialized once (FastAPI would validate it again in another thread hop).
    verdict = await run_in_threadpool(service.decide_live, body)
    return Response(verdict.model_dump_json(), media_type="application/json")


@router.get("/bots/{bot_id}/verdicts", response_model=list[Verdict])
def recent_verdicts(
    bot_id: BotId,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[Verdict]:
    """The bot's most recent verdicts, newest first."""
    return service.recent_verdicts(bot_id, limit)


@router.get("/bots/{bot_id}/adjustments")
def adjustments(bot_id: BotId, service: Service) -> dict:
    """LLM parameter suggestions (newest first) and the values applied within bounds."""
    return service.adjustments(bot_id)
