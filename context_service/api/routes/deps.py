"""Shared route dependencies, as ``Annotated`` aliases (FastAPI's full-stack template style):
a route declares ``service: Service`` or ``bot_id: BotId`` and gets it resolved and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from context_service.dashboard.monitor import FleetMonitor
from context_service.keys import validate_bot_id
from context_service.service import ContextService


async def get_service(request: Request) -> ContextService:
    return request.app.state.service


async def bot_path(bot_id: str) -> str:
    """A ``{bot_id}`` path parameter, validated (422 with the rule when invalid)."""
    return validate_bot_id(bot_id)


@dataclass(frozen=True, slots=True)
class FleetView:
    """The fleet monitor of the app (None without a fleet file) and why there is none."""

    monitor: FleetMonitor | None
    error: str | None


async def get_fleet(request: Request) -> FleetView:
    state = request.app.state
    return FleetView(getattr(state, "fleet_monitor", None), getattr(state, "fleet_error", None))


Service = Annotated[ContextService, Depends(get_service)]
BotId = Annotated[str, Depends(bot_path)]
Fleet = Annotated[FleetView, Depends(get_fleet)]
