"""The feed poller inside the sidecar: built from the feed settings, writing to the service's
market-wide evidence store, its status in Redis and its metrics on the service's ``/metrics``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from context_service.evidence.components import FeedComponents
from context_service.evidence.config import FeedSettings, get_feed_settings
from context_service.evidence.metrics import FeedMetrics
from context_service.evidence.poller import FeedPoller, build_jobs
from context_service.evidence.status import RedisStatusStore
from context_service.keys import Keyspace

log = logging.getLogger(__name__)


def redis_claim(client: Any, keyspace: Keyspace) -> Callable[[str, float], bool]:
    """The poller's claim shared by the sidecar's replicas: one replica polls a feed per
    interval (held a little shorter than the interval, so clocks may drift)."""

    def claim(name: str, seconds: float) -> bool:
        hold_ms = max(int(seconds * 900), 1000)
        return bool(client.set(keyspace.feeds_claim(name), "1", nx=True, px=hold_ms))

    return claim


def feed_poller(service: Any, settings: FeedSettings | None = None) -> FeedPoller | None:
    """The poller of ``service`` (a :class:`~context_service.service.ContextService`), or
    None when polling is off or no source is enabled. Not started: call ``start()``."""
    settings = settings or get_feed_settings()
    if not settings.poll:
        log.info("feed polling is off (CTX_FEEDS_POLL=false)")
        return None
    if settings.markets_snapshot is None and service.settings.markets_snapshot is not None:
        settings = settings.model_copy(
            update={"markets_snapshot": service.settings.markets_snapshot}
        )
    jobs, skipped = build_jobs(FeedComponents(settings))
    for name, reason in skipped.items():
        log.warning("feed %s not polled: %s", name, reason)
    if not jobs:
        return None
    c = service.components
    return FeedPoller(
        jobs,
        c.market,
        settings,
        metrics=FeedMetrics(c.metrics.registry),
        status=RedisStatusStore(c.redis, c.keyspace.feeds_status),
        clock=c.clock,
        claim=redis_claim(c.redis, c.keyspace),
    )
