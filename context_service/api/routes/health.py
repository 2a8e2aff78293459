"""Liveness, readiness and Prometheus metrics (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from context_service.api.routes.deps import Service

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(service: Service) -> JSONResponse:
    """Ready when Redis answers a PING."""
    problem = service.ready()
    if problem is not None:
        return JSONResponse(status_code=503, content={"status": "unavailable", "redis": problem})
    return JSONResponse(content={"status": "ready", "redis": "ok"})


@router.get("/metrics")
def metrics(service: Service) -> Response:
    """Prometheus text format."""
    return Response(service.metrics_text(), media_type=CONTENT_TYPE_LATEST)
