"""LLM usage and spend, and active operator alerts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from context_service.api.routes.deps import Service
from context_service.bounds import EventTime
from context_service.keys import validate_bot_id

router = APIRouter(tags=["llm"])


@router.get("/llm/usage")
def llm_usage(
    service: Service,
    bot_id: str | None = None,
    at: Annotated[EventTime | None, Query(description="Day/month to report; now.")] = None,
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


class ReopenRequest(BaseModel):
    """Which closed caps to reopen: the global ones, and the bot's daily cap when given."""

    model_config = ConfigDict(extra="forbid")

    bot_id: str | None = None
    at: EventTime | None = Field(default=None, description="The day/month of the caps; now.")
    caps: list[Literal["bot-daily", "global-daily", "monthly"]] = Field(
        default_factory=lambda: ["bot-daily", "global-daily", "monthly"], min_length=1
    )

    _bot = field_validator("bot_id")(lambda cls, v: None if v is None else validate_bot_id(v))


@router.post("/llm/caps/reopen")
def reopen_caps(body: ReopenRequest, service: Service) -> dict[str, Any]:
    """Reopen caps that an endpoint's over-report closed (operator)."""
    return service.reopen_caps(body.bot_id, body.at, body.caps)
