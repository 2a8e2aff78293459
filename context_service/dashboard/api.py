"""``GET /v1/dashboard/state``: the JSON the dashboard page renders (bearer token required)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from context_service.dashboard.view import dashboard_state

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


@router.get("/state")
def state(request: Request) -> dict[str, Any]:
    """Bots (reachable, state, open trades, profit), LLM spend vs caps, verdicts, alerts."""
    app_state = request.app.state
    data = dashboard_state(app_state.service, getattr(app_state, "fleet_monitor", None))
    data["fleet_error"] = getattr(app_state, "fleet_error", None)
    return data
