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
    return service.usage_report(at, bot_id)


@router.get("/alerts")
def alerts(service: Service) -> list[dict[str, Any]]:
    """Active alerts (cost caps, open circuit breakers, ...), oldest first."""
    return service.active_alerts()
