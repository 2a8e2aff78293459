"""Where the context engine keeps knowledge objects.

The engine talks to a :class:`KnowledgeStore`. :class:`InMemoryStore` serves the backtest path
and unit tests; the Redis-backed store of the memory layer implements the same protocol for the
sidecar. Both apply :func:`~context_service.models.merge_upsert`, so upsert semantics are the same
everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from context_service.models import KnowledgeObject, merge_upsert, utcnow


@runtime_checkable
class KnowledgeStore(Protocol):
    def upsert(self, obj: KnowledgeObject, now: datetime | None = None) -> KnowledgeObject:
        """Insert or merge by id; returns the stored object (with created/updated times)."""

    def upsert_many(
        self, objects: Iterable[KnowledgeObject], now: datetime | None = None
    ) -> list[KnowledgeObject]:
        """Upsert several objects at once (all or nothing where the backend allows)."""

    def get(self, object_id: str) -> KnowledgeObject | None: ...

    def delete(self, object_id: str) -> bool:
        """Remove an object; True when it existed."""

    def visible(
        self, as_of: datetime | None, now: datetime | None = None
    ) -> Iterator[KnowledgeObject]:
        """Objects a decision at ``as_of`` may see (see ``KnowledgeObject.visible_at``)."""

    def all(self) -> Iterator[KnowledgeObject]: ...

    def purge_expired(self, now: datetime | None = None) -> list[KnowledgeObject]:
        """Delete objects whose ``valid_until`` has passed; returns what was archived."""


class InMemoryStore:
    """A dict-backed store with the same semantics as the Redis store."""

    def __init__(self) -> None:
        self._objects: dict[str, KnowledgeObject] = {}
        self._version = 0  # bumped by every write; see change_token()

    def __len__(self) -> int:
        return len(self._objects)

    def upsert(self, obj: KnowledgeObject, now: datetime | None = None) -> KnowledgeObject:
        stored = merge_upsert(self._objects.get(obj.id), obj, now)
        self._objects[obj.id] = stored
        self._version += 1
        return stored

    def upsert_many(
        self, objects: Iterable[KnowledgeObject], now: datetime | None = None
    ) -> list[KnowledgeObject]:
        return [self.upsert(obj, now) for obj in objects]

    def get(self, object_id: str) -> KnowledgeObject | None:
        return self._objects.get(object_id)

    def delete(self, object_id: str) -> bool:
        self._version += 1
        return self._objects.pop(object_id, None) is not None

    def visible(
        self, as_of: datetime | None, now: datetime | None = None
    ) -> Iterator[KnowledgeObject]:
        moment = now or utcnow()
        return (o for o in self._objects.values() if o.visible_at(as_of, moment))

    def all(self) -> Iterator[KnowledgeObject]:
        return iter(self._objects.values())

    def purge_expired(self, now: datetime | None = None) -> list[KnowledgeObject]:
        moment = now or utcnow()
        expired = [o for o in self._objects.values() if o.valid_until and o.valid_until <= moment]
        for obj in expired:
            del self._objects[obj.id]
        self._version += 1
        return expired

    def change_token(self) -> int:
        """Changes whenever the contents may have changed (optional; the engine skips
        reconciling its mirror while it stays the same)."""
        return self._version
