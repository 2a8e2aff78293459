"""LLM usage and spend, and active operator alerts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from context_service.api.routes.deps import Service
from context_service.keys import validate_bot_id

router = APIRouter(tags=["llm"])


@router.get("/llm/usage")
def llm_usage(
    service: Service,
    bot_id: str | None = None,
    at: Annotated[AwareDatetime | None, Query(description="Day/month to report; now.")] = None,
) -> dict[str, Any]:
    """Spend per bot and global for the day and month: calls, tokens, cost, fallbacks by
    reason, latency percentiles, and each cost cap with what is spent and reserved."""
    if bot_id is not None:
        validate_bot_id(bot_id)
    moment = at or service.clock()
    report = service.usage.report(moment, bot_id)
    bots = [bot_id] if bot_id else sorted(report["bots"])
    report["caps"] = service.ledger.status(None, moment)
    for bot in bots:
        report["bots"].setdefault(bot, {})["cap"] = service.ledger.bot_status(bot, moment)
    return report


@router.get("/alerts")
def alerts(service: Service) -> list[dict[str, Any]]:
    """Active alerts (cost caps, open circuit breakers, ...), oldest first."""
    return [alert.model_dump(mode="json") for alert in service.alerts.active()]
