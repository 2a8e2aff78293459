"""``GET /v1/feeds``: each evidence source's last success, last error, items seen and lag."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from context_service.api.routes.deps import Service
from context_service.evidence.config import get_feed_settings
from context_service.evidence.report import feeds_report
from context_service.evidence.status import RedisStatusStore

router = APIRouter(tags=["feeds"])


@router.get("/feeds")
def feeds(request: Request, service: Service) -> dict[str, Any]:
    """What the poller recorded (shared by every sidecar process through Redis)."""
    c = service.components
    status = RedisStatusStore(c.redis, c.keyspace.feeds_status)
    settings = getattr(request.app.state, "feed_settings", None) or get_feed_settings()
    return feeds_report(status, settings)
