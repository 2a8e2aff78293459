"""``GET /dashboard``: the page and its static files, and the fleet monitor's lifetime.

The page itself carries no data and is served without a token; its script asks for the sidecar
token (kept in the browser tab's ``sessionStorage``, or passed once as ``#token=...`` in the URL
fragment, which browsers never send to the server) and sends it as a bearer header on every JSON
call. All data comes from the token-protected ``/v1/dashboard/state``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

from context_service.dashboard.monitor import FleetMonitor
from context_service.fleet.model import FleetFileError, load_fleet

log = logging.getLogger("context_service.dashboard")
STATIC = resources.files("context_service.dashboard") / "static"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def build_monitor(app: FastAPI) -> FleetMonitor | None:
    """A monitor for the fleet file in the settings (None without one, or when invalid)."""
    settings = app.state.settings
    app.state.fleet_error = None
    if settings.fleet_file is None:
        return None
    try:
        fleet = load_fleet(settings.fleet_file)
    except FleetFileError as exc:
        app.state.fleet_error = str(exc)
        log.error("dashboard without bots: %s", exc)
        return None
    password = settings.bot_api_password
    return FleetMonitor(
        fleet.bots,
        app.state.service.alerts,
        settings.bot_api_url_template,
        settings.bot_api_username,
        password.get_secret_value() if password else None,
        interval_s=settings.monitor_interval_s,
    )


@asynccontextmanager
async def monitor_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start polling the bots with the app; stop with it."""
    monitor = build_monitor(app)
    app.state.fleet_monitor = monitor
    if monitor is not None:
        monitor.start()
    try:
        yield
    finally:
        if monitor is not None:
            monitor.stop()


router = APIRouter(tags=["dashboard"], lifespan=monitor_lifespan)


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page() -> HTMLResponse:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@router.get("/dashboard/static/{name}", include_in_schema=False)
def dashboard_static(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in MEDIA_TYPES:
        raise HTTPException(status_code=404, detail="not found")
    resource = STATIC / name
    if not resource.is_file():
        raise HTTPException(status_code=404, detail="not found")
    return Response(resource.read_bytes(), media_type=MEDIA_TYPES[suffix], headers=SECURITY_HEADERS)
