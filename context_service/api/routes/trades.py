"""Trade events, statistics and the audit trail of a bot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from context_service.api.auth import authorize
from context_service.api.routes.deps import BotId, Service
from context_service.bounds import EventTime, HorizonTime
from context_service.memory import TradeEvent

router = APIRouter(tags=["trades"])


class RecordResult(BaseModel):
    stored: bool
    duplicate: bool


@router.post("/trades/events", response_model=RecordResult)
def record_trade_event(event: TradeEvent, service: Service, request: Request) -> RecordResult:
    """Record a fill or a closed trade; idempotent (a repeated event is a duplicate)."""
    authorize(request, event.bot_id)
    stored = service.record_trade_event(event)
    return RecordResult(stored=stored, duplicate=not stored)


@router.get("/bots/{bot_id}/stats")
def stats(
    bot_id: BotId,
    service: Service,
    as_of: EventTime | None = None,
) -> dict[str, Any]:
    """Realised PnL (gross, net of fees, net of LLM cost), win rate, drawdown, breakdowns."""
    return service.stats(bot_id, as_of).model_dump(mode="json")


@router.get("/bots/{bot_id}/audit")
def audit(
    bot_id: BotId,
    service: Service,
    start: HorizonTime | None = None,
    end: HorizonTime | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Audit entries (verdicts with prompt, tool call, usage, cost, manifest id), oldest first."""
    entries = service.audit(bot_id, start, end, kind, limit)
    return [entry.model_dump(mode="json") for entry in entries]
