"""The FastAPI application of the sidecar.

``create_app(settings=None, service=None)`` builds it; without a service one is made from the
settings when the app starts. Routes live under ``/v1`` behind the bearer tokens (the
operator's and one per bot, checked before the body is read: :mod:`context_service.api.auth`);
``/healthz`` and ``/readyz`` are open, ``/metrics`` and the docs per ``CTX_METRICS_ACCESS``.
Every router is assembled in :mod:`context_service.api.router`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from context_service import __version__, observability
from context_service.api import docs, errors
from context_service.api.auth import Authenticate
from context_service.api.limits import BodySizeLimit
from context_service.api.logs import RequestObserver
from context_service.api.redis_gate import RedisGate
from context_service.api.router import include_routes
from context_service.bounds import set_time_window, window_from_settings
from context_service.credentials import TokenBook
from context_service.engine.tokens import TokenCounter
from context_service.evidence.runtime import feed_poller
from context_service.fleet.model import fleet_bots
from context_service.memory.connection import stop_embedded
from context_service.memory.health import RedisHealth
from context_service.retention import RetentionScheduler
from context_service.service import ContextService
from context_service.settings import Settings, get_settings
from context_service.verdicts.metrics import ServiceMetrics


def _metrics(app: FastAPI) -> ServiceMetrics | None:
    service = app.state.service
    return None if service is None else service.components.metrics


WORKER_LOG_LEVEL = "CTX_SERVE_LOG_LEVEL"  # serve's --log-level, handed to its worker processes


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``serve --workers N``, from ``CTX_*`` settings."""
    from context_service.api.logs import configure_logging
    from context_service.api.serve import tune_gc

    configure_logging(os.environ.get(WORKER_LOG_LEVEL, "INFO").upper())
    app = create_app(get_settings())
    tune_gc()
    return app


def create_app(settings: Settings | None = None, service: ContextService | None = None) -> FastAPI:
    """The sidecar app; pass ``service`` to share one (tests, in-process use)."""
    settings = service.settings if service is not None and settings is None else settings
    settings = settings or get_settings()
    owns_service = service is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.service is None:
            app.state.service = ContextService.from_settings(settings)
        # The token encoding loads now (about 0.4 s), not inside the first verdict.
        TokenCounter(app.state.service.settings.llm_model)
        app.state.redis_health = RedisHealth(
            app.state.service.components.redis, settings.redis_probe_interval_s
        )
        observability.watch(app.state.service, lambda: getattr(app.state, "fleet_monitor", None))
        retention = None
        if owns_service and settings.retention_interval_s > 0:
            failures = app.state.service.components.metrics.retention_failures
            retention = RetentionScheduler(
                app.state.service.components.memory,
                settings.retention_interval_s,
                on_failure=lambda scope: failures.labels(scope).inc(),
            ).start()
        poller = feed_poller(app.state.service) if owns_service else None
        if poller is not None:
            poller.start()
        yield
        if poller is not None:
            poller.stop()
        if retention is not None:
            retention.stop()
        pending = getattr(app.state, "pending_verdicts", None)
        if pending is not None:  # asked verdicts still running: not waited for
            pending.close()
        if owns_service and app.state.service is not None:
            app.state.service.close()
            stop_embedded(app.state.service.components.redis)  # SIGTERM must not leave it running

    app = FastAPI(
        title="Context service",
        version=__version__,
        description="Token-budgeted, point-in-time LLM verdicts under hard cost caps.",
        lifespan=lifespan,
        docs_url=None,  # served by docs.install from local assets (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.redis_health = None
    app.state.tokens = TokenBook(settings, fleet_bots(settings.fleet_file))
    set_time_window(window_from_settings(settings))
    errors.install(app)
    docs.install(app)
    include_routes(app)
    # Outermost first: observe everything, then refuse oversized bodies before any route.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RedisGate, health_of=lambda: app.state.redis_health)
    # Before the body is read: an unauthenticated request never gets that far.
    app.add_middleware(
        Authenticate, book_of=lambda: app.state.tokens, metrics_access=settings.metrics_access
    )
    app.add_middleware(RequestObserver, metrics_of=lambda: _metrics(app))
    return app
