"""A per-bot circuit breaker for LLM calls, shared by every sidecar process through Redis.

After ``failures`` consecutive failed calls the breaker opens for ``open_seconds``: calls are
skipped (the verdict falls back) until the time has passed. Then one call is let through; a
success closes the breaker, a failure opens it again at once.
"""

from __future__ import annotations

from datetime import datetime

import redis

from context_service.alerts import AlertSink
from context_service.keys import Keyspace

# Count a failure and open the breaker when the threshold is reached, atomically.
# KEYS[1] breaker hash; ARGV: threshold, now (epoch s), open seconds. Returns open_until or 0.
_RECORD_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local now = tonumber(ARGV[2])
if failures >= tonumber(ARGV[1]) or (open_until > 0 and open_until <= now) then
  open_until = now + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'open_until', tostring(open_until), 'failures', 0)
  redis.call('EXPIRE', KEYS[1], 86400)
  return tostring(open_until)
end
redis.call('EXPIRE', KEYS[1], 86400)
return '0'
"""


class CircuitBreaker:
    """Open after N consecutive failures, for T seconds."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keyspace: Keyspace,
        failures: int,
        open_seconds: float,
        alerts: AlertSink | None = None,
    ) -> None:
        self.redis = redis_client
        self.keyspace = keyspace
        self.failures = failures
        self.open_seconds = open_seconds
        self.alerts = alerts
        self._record_failure = redis_client.register_script(_RECORD_FAILURE)

    def open_until(self, bot_id: str) -> float:
        raw = self.redis.hget(self.keyspace.bot(bot_id).breaker, "open_until")
        return float(raw or 0)

    def allow(self, bot_id: str, at: datetime) -> bool:
        """False while the breaker is open."""
        return self.open_until(bot_id) <= at.timestamp()

    def record_success(self, bot_id: str) -> None:
        """A successful call closes the breaker (and resolves its alert, if any)."""
        removed = self.redis.delete(self.keyspace.bot(bot_id).breaker)
        if removed and self.alerts is not None:
            self.alerts.resolve(f"breaker:{bot_id}")

    def record_failure(self, bot_id: str, at: datetime, reason: str) -> bool:
        """Count a failure; True when this failure opened the breaker."""
        key = self.keyspace.bot(bot_id).breaker
        args = [self.failures, at.timestamp(), self.open_seconds]
        opened = float(self._record_failure(keys=[key], args=args))
        if opened and self.alerts is not None:
            self.alerts.fire(
                key=f"breaker:{bot_id}",
                level="warning",
                message=f"LLM circuit breaker open for {self.open_seconds:g} s after "
                f"{self.failures} consecutive failures (last: {reason}); verdicts fall back",
                bot_id=bot_id,
                data={"reason": reason, "open_until": opened},
            )
        return bool(opened)
