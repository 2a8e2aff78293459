"""A health flag for Redis: after a connection failure, fail fast instead of waiting on it.

While Redis is unreachable every request would otherwise spend its connect/socket timeouts (and
retries) finding out again, and requests pile up behind each other: bots give up after 2 s. The
flag trips on the first connection error or timeout; while it is tripped, callers are refused at
once (:meth:`RedisHealth.available` is False) except one probe every ``probe_interval_s``, which
PINGs with the client's short timeouts. The first successful probe clears the flag, so latency
is back to normal within one probe interval of Redis returning.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger("context_service.redis")

# The errors that mean "Redis cannot be reached" (not a bad command or a script error).
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


class RedisHealth:
    """Tripped by connection failures, cleared by a successful probe."""

    def __init__(self, client: redis.Redis, probe_interval_s: float = 0.5) -> None:
        self.client = client
        self.probe_interval_s = probe_interval_s
        self.trips = 0
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._probe_lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def trip(self, error: BaseException | None = None) -> None:
        """Record a connection failure (idempotent while already down)."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._next_probe = self._down_since + self.probe_interval_s
            self.trips += 1
            log.error("Redis unreachable (%s); failing fast until a probe succeeds", error)

    def available(self) -> bool:
        """True when a caller may use Redis: it is up, or this caller is the due probe."""
        if self._down_since is None:
            return True
        if time.monotonic() < self._next_probe or not self._probe_lock.acquire(blocking=False):
            return False
        try:
            self._next_probe = time.monotonic() + self.probe_interval_s
            self.client.ping()
        except redis.RedisError:
            return False
        finally:
            self._probe_lock.release()
        down_for = time.monotonic() - self._down_since
        self._down_since = None
        log.warning("Redis reachable again after %.1f s", down_for)
        return True
