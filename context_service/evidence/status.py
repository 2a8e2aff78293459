"""Each feed's state (schedule, backoff, breaker, counters), kept where every process sees it.

The poller in the sidecar writes one JSON document per source to a Redis hash; ``GET
/v1/feeds`` and ``python -m context_service feeds status`` read it back. The cursor is kept
there too, so a restarted sidecar goes on where it stopped instead of re-reading history.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from context_service.redis_text import as_text

log = logging.getLogger(__name__)


@dataclass
class FeedState:
    name: str
    interval_s: float
    next_due: datetime | None = None
    cursor: str | None = None
    failures: int = 0  # failed polls in a row
    breaker_open_until: datetime | None = None
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    items_seen: int = 0
    items_stored: int = 0
    duplicates: int = 0
    newest_published: datetime | None = None
    ingest_delay_s: float | None = None

    def view(self, now: datetime) -> dict[str, Any]:
        """What status pages show (times as ISO strings, lag computed at ``now``)."""
        data = self.to_json()
        data["lag_s"] = (
            None if self.last_success is None else round((now - self.last_success).total_seconds())
        )
        data["breaker"] = (
            "open" if self.breaker_open_until and self.breaker_open_until > now else "closed"
        )
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedState:
        known = {f.name: f.type for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if "datetime" in str(known[key]) and isinstance(value, str):
                value = datetime.fromisoformat(value)
            kwargs[key] = value
        return cls(**kwargs)


class StatusStore(Protocol):
    def save(self, state: FeedState) -> None: ...

    def load(self) -> dict[str, FeedState]: ...


class MemoryStatusStore:
    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}

    def save(self, state: FeedState) -> None:
        self._states[state.name] = state.to_json()

    def load(self) -> dict[str, FeedState]:
        return {name: FeedState.from_json(data) for name, data in self._states.items()}


class RedisStatusStore:
    """One hash (``Keyspace.feeds_status``): source name -> JSON state."""

    def __init__(self, redis: Any, key: str) -> None:
        self.redis = redis
        self.key = key

    def save(self, state: FeedState) -> None:
        self.redis.hset(self.key, state.name, json.dumps(state.to_json()))

    def load(self) -> dict[str, FeedState]:
        states = {}
        for name, raw in self.redis.hgetall(self.key).items():
            try:
                states[as_text(name)] = FeedState.from_json(json.loads(as_text(raw)))
            except (ValueError, TypeError) as exc:
                log.warning("unreadable feed status %r skipped: %s", as_text(name), exc)
        return states
