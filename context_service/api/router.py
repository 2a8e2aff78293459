"""Every router of the sidecar, assembled in one place.

* open: ``/healthz``, ``/readyz`` and the dashboard page (it carries no data); ``/metrics``
  per ``CTX_METRICS_ACCESS`` (loopback or the operator token, :mod:`context_service.api.auth`);
* ``/v1``: everything else, behind the bearer tokens (a bot's own, or the operator's).

A new router is one module under ``context_service/api/routes/`` added to :data:`V1_ROUTERS`
(or, without the token, to :data:`OPEN_ROUTERS`).

Each router is included straight into the app, ``/v1`` and the token added per router, never
through an intermediate router: FastAPI matches included routers level by level on every
request, so a router tree (``api -> v1 -> verdicts``) made every request pay for the levels
(bench/verdicts.py, replay hits: 2.25 -> 2.10 ms of sidecar CPU per request once flat). The
verdict routes come first: they are the hot path.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from context_service.api.auth import require_token
from context_service.api.routes import (
    context,
    dashboard,
    evidence,
    feeds,
    health,
    leases,
    market,
    trades,
    usage,
    verdicts,
)

V1_ROUTERS = (
    verdicts.router,
    evidence.router,
    market.router,
    feeds.router,
    context.router,
    trades.router,
    usage.router,
    leases.router,
    dashboard.router,
)
# Open: /healthz, /readyz, /metrics (its own access rule), the dashboard page (no data).
OPEN_ROUTERS = (health.router, dashboard.page_router)


def include_routes(app: FastAPI | APIRouter) -> None:
    """Every route of the sidecar, each router included once, straight into ``app``."""
    for sub in V1_ROUTERS:
        app.include_router(sub, prefix="/v1", dependencies=[Depends(require_token)])
    for sub in OPEN_ROUTERS:
        app.include_router(sub)
