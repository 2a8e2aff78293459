"""The dashboard: ``GET /dashboard`` (the page and its static files) and
``GET /v1/dashboard/state`` (the JSON the page renders, bearer token required).

The page itself carries no data and is served without a token; its script asks for the sidecar
token (kept in the browser tab's ``sessionStorage``, or passed once as ``#token=...`` in the URL
fragment, which browsers never send to the server) and sends it as a bearer header on every JSON
call. All data comes from the token-protected state route.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from context_service.api.routes.deps import Fleet, Service
from context_service.dashboard.lifespan import monitor_lifespan
from context_service.dashboard.view import dashboard_state

STATIC = resources.files("context_service.dashboard") / "static"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# Under /v1, behind the token.
router = APIRouter(prefix="/dashboard", tags=["dashboard"])
# The page: no token (it holds no data); polls the fleet while the app runs.
page_router = APIRouter(tags=["dashboard"], lifespan=monitor_lifespan)


@router.get("/state")
def state(service: Service, fleet: Fleet) -> dict[str, Any]:
    """Bots (reachable, state, open trades, profit), LLM spend vs caps, verdicts, alerts."""
    data = dashboard_state(service, fleet.monitor)
    data["fleet_error"] = fleet.error
    return data


@page_router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page() -> HTMLResponse:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@page_router.get("/dashboard/static/{name}", include_in_schema=False)
def dashboard_static(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in MEDIA_TYPES:
        raise HTTPException(status_code=404, detail="not found")
    resource = STATIC / name
    if not resource.is_file():
        raise HTTPException(status_code=404, detail="not found")
    return Response(resource.read_bytes(), media_type=MEDIA_TYPES[suffix], headers=SECURITY_HEADERS)
