"""Every router of the sidecar, assembled in one place.

* open: ``/healthz``, ``/readyz`` and the dashboard page (it carries no data); ``/metrics``
  per ``CTX_METRICS_ACCESS`` (loopback or the operator token, :mod:`context_service.api.auth`);
* ``/v1``: everything else, behind the bearer tokens (a bot's own, or the operator's).

A new router is one module under ``context_service/api/routes/`` added to :data:`V1_ROUTERS`
(or, without the token, to :func:`api_router`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

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
    evidence.router,
    market.router,
    feeds.router,
    context.router,
    verdicts.router,
    trades.router,
    usage.router,
    leases.router,
    dashboard.router,
)


def api_v1() -> APIRouter:
    """Every versioned route, behind the bearer token."""
    router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])
    for sub in V1_ROUTERS:
        router.include_router(sub)
    return router


def api_router() -> APIRouter:
    """The whole API: open routes, then ``/v1``."""
    router = APIRouter()
    router.include_router(health.router)
    router.include_router(api_v1())
    router.include_router(dashboard.page_router)  # /dashboard page; its data is under /v1
    return router
