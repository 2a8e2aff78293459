"""Requests-per-minute limits for LLM calls, per bot and global, in Redis.

A fixed one-minute window per key (INCR + EXPIRE). Over the limit, the caller falls back to the
next provider at once: nothing waits in a queue. A limit of 0 disables LLM calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from context_service.keys import Keyspace

WINDOW_TTL_S = 120


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    scope: str | None = None  # "bot" or "global" when refused
    count: int = 0
    limit: int = 0


class RateLimiter:
    """Counts LLM requests per minute; the bot window is checked before the global one."""

    def __init__(
        self, redis_client: redis.Redis, keyspace: Keyspace, per_bot: int, global_: int
    ) -> None:
        self.redis = redis_client
        self.keyspace = keyspace
        self.per_bot = per_bot
        self.global_ = global_

    def _hit(self, key: str) -> int:
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, WINDOW_TTL_S, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def acquire(self, bot_id: str, at: datetime) -> RateDecision:
        """Count one request; refused when the bot's or the global window is full."""
        minute = int(at.timestamp() // 60)
        bot_count = self._hit(self.keyspace.bot(bot_id).rate_window(minute))
        if bot_count > self.per_bot:
            return RateDecision(False, "bot", bot_count, self.per_bot)
        global_count = self._hit(self.keyspace.global_rate_window(minute))
        if global_count > self.global_:
            return RateDecision(False, "global", global_count, self.global_)
        return RateDecision(True, None, bot_count, self.per_bot)
