"""Market-wide evidence: stored once, read by every bot's synthesis beside its own evidence.

News, sentiment indices and other facts about the market concern every bot. They are written
once (in Redis under the market keys, ``{ctx-market}``; in a backtest in a process-local store)
and every bot's context engine reads them as a *shared* store, as of its own decision time.
Only dated :class:`~context_service.models.Evidence` belongs here: a decision at ``as_of`` sees
an item only once it was observed, never earlier.

One lock guards the store: every bot's engine reads it from its own request thread, and the
feed poller and retention write it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from context_service.models import Evidence, KnowledgeObject, utcnow

# How far ahead of the service's clock an item may say it was observed (clock skew between a
# feed and us); anything later is a feed's bug, not news.
MAX_FUTURE = timedelta(days=1)


class MarketEvidenceError(ValueError):
    """An object that cannot be market evidence (not evidence, or undated)."""


def check_market_evidence(
    objects: Iterable[KnowledgeObject], now: datetime | None = None
) -> list[Evidence]:
    """``objects`` when each is evidence observed no later than a day after ``now``;
    :class:`MarketEvidenceError` naming the first that is not (nothing is written then)."""
    latest = (now or utcnow()) + MAX_FUTURE
    checked: list[Evidence] = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, Evidence):
            raise MarketEvidenceError(
                f"objects[{index}] (id {obj.id!r}): market evidence must be of kind 'evidence', "
                f"not {obj.kind!r} (goals, constraints and insights belong to one bot)"
            )
        if obj.observed_at is None:
            raise MarketEvidenceError(
                f"objects[{index}] (id {obj.id!r}): market evidence needs observed_at, so a "
                "decision sees it only from when it was known"
            )
        if obj.observed_at > latest:
            raise MarketEvidenceError(
                f"objects[{index}] (id {obj.id!r}): observed_at {obj.observed_at.isoformat()} "
                f"is more than {MAX_FUTURE} ahead of the service's clock"
            )
        checked.append(obj)
    return checked


class MarketEvidence:
    """The market-wide evidence store; the engines' ``shared`` store (read side of
    :class:`~context_service.engine.store.KnowledgeStore`)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._lock = threading.Lock()

    def upsert_many(
        self, objects: Iterable[KnowledgeObject], now: datetime | None = None
    ) -> list[KnowledgeObject]:
        """Check every object, then write them all (merged by id, like a bot's evidence)."""
        checked = check_market_evidence(objects, now)
        if not checked:
            return []
        with self._lock:
            return self._store.upsert_many(checked, now)

    def get(self, object_id: str) -> KnowledgeObject | None:
        with self._lock:
            return self._store.get(object_id)

    def all(self) -> Iterator[KnowledgeObject]:
        with self._lock:
            return iter(list(self._store.all()))

    def change_token(self) -> object:
        with self._lock:
            return self._store.change_token()

    def purge_expired(self, now: datetime | None = None) -> list[KnowledgeObject]:
        with self._lock:
            return self._store.purge_expired(now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)
