"""The evidence store of one bot in Redis: the context engine's KnowledgeStore for the sidecar.

Layout (all keys of the bot, built by :class:`~context_service.keys.BotKeys`):

* ``objects``           hash   object id -> JSON of the knowledge object
* ``objects:observed``  zset   object id -> ``observed_at`` (epoch seconds), dated objects only
* ``objects:undated``   set    ids of objects without ``observed_at``
* ``objects:expiry``    zset   object id -> when it expires: the earlier of ``valid_until`` and
  the lane TTL deadline (``observed_at``, else the time it was stored, plus the lane's TTL)

An as-of query is one ZRANGEBYSCORE on ``objects:observed`` plus HMGETs in chunks; parsed
objects are cached by their stored JSON, so repeated syntheses over 5k objects skip validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import redis

from context_service.keys import BotKeys
from context_service.models import KnowledgeObject, merge_upsert, parse_knowledge, utcnow

from .lanes import lane_of

FETCH_CHUNK = 1000
CACHE_LIMIT = 50_000


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisKnowledgeStore:
    """Implements :class:`~context_service.engine.store.KnowledgeStore` on one bot's keys.

    Upserts follow :func:`~context_service.models.merge_upsert`, exactly like the in-memory
    store. Objects handed out are shared with a parse cache: treat them as read-only.
    """

    def __init__(
        self, client: redis.Redis, keys: BotKeys, ttl_hours: dict[str, float] | None = None
    ) -> None:
        self._client = client
        self._keys = keys
        self._ttl_hours = dict(ttl_hours or {})
        self._cache: dict[str, tuple[str, KnowledgeObject]] = {}

    # -- helpers -------------------------------------------------------------------------
    def _parse(self, object_id: str, raw: str | bytes) -> KnowledgeObject:
        text = _text(raw)
        hit = self._cache.get(object_id)
        if hit is not None and hit[0] == text:
            return hit[1]
        obj = parse_knowledge(text)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[object_id] = (text, obj)
        return obj

    def expires_at(self, obj: KnowledgeObject, stored_at: datetime) -> datetime | None:
        """When ``obj`` leaves the store: ``valid_until`` or its lane's TTL, whichever is first."""
        deadlines = [obj.valid_until] if obj.valid_until else []
        ttl = self._ttl_hours.get(lane_of(obj))
        if ttl is not None and not obj.pinned:
            deadlines.append((obj.observed_at or stored_at) + timedelta(hours=ttl))
        return min(deadlines) if deadlines else None

    def _write(self, pipe: redis.client.Pipeline, obj: KnowledgeObject, moment: datetime) -> None:
        keys = self._keys
        pipe.hset(keys.objects, obj.id, obj.model_dump_json())
        if obj.observed_at is not None:
            pipe.zadd(keys.objects_by_observed, {obj.id: obj.observed_at.timestamp()})
            pipe.srem(keys.objects_undated, obj.id)
        else:
            pipe.zrem(keys.objects_by_observed, obj.id)
            pipe.sadd(keys.objects_undated, obj.id)
        expiry = self.expires_at(obj, obj.updated_at or moment)
        if expiry is not None:
            pipe.zadd(keys.objects_by_expiry, {obj.id: expiry.timestamp()})
        else:
            pipe.zrem(keys.objects_by_expiry, obj.id)

    def _fetch(self, ids: list[str]) -> Iterator[KnowledgeObject]:
        for start in range(0, len(ids), FETCH_CHUNK):
            chunk = ids[start : start + FETCH_CHUNK]
            raws = self._client.hmget(self._keys.objects, chunk)
            for object_id, raw in zip(chunk, raws, strict=True):
                if raw is not None:
                    yield self._parse(object_id, raw)

    # -- KnowledgeStore ------------------------------------------------------------------
    def upsert(self, obj: KnowledgeObject, now: datetime | None = None) -> KnowledgeObject:
        return self.upsert_many([obj], now)[0]

    def upsert_many(
        self, objects: Iterable[KnowledgeObject], now: datetime | None = None
    ) -> list[KnowledgeObject]:
        """Merge and write all objects in one MULTI/EXEC; retried if another writer interferes."""
        incoming = list(objects)
        if not incoming:
            return []
        moment = now or utcnow()
        ids = [obj.id for obj in incoming]
        stored: list[KnowledgeObject] = []

        def write(pipe: redis.client.Pipeline) -> None:
            stored.clear()
            current = dict(zip(ids, pipe.hmget(self._keys.objects, ids), strict=True))
            latest: dict[str, KnowledgeObject | None] = {
                object_id: (self._parse(object_id, raw) if raw is not None else None)
                for object_id, raw in current.items()
            }
            merged_all = []
            for obj in incoming:  # the same id twice in one batch merges in order
                merged = merge_upsert(latest[obj.id], obj, moment)
                latest[obj.id] = merged
                merged_all.append(merged)
            pipe.multi()
            for merged in merged_all:
                self._write(pipe, merged, moment)
            stored.extend(merged_all)

        self._client.transaction(write, self._keys.objects)
        return stored

    def get(self, object_id: str) -> KnowledgeObject | None:
        raw = self._client.hget(self._keys.objects, object_id)
        return None if raw is None else self._parse(object_id, raw)

    def delete(self, object_id: str) -> bool:
        return self._delete_ids([object_id]) > 0

    def _delete_ids(self, ids: list[str]) -> int:
        if not ids:
            return 0
        keys = self._keys
        pipe = self._client.pipeline(transaction=True)
        pipe.hdel(keys.objects, *ids)
        pipe.zrem(keys.objects_by_observed, *ids)
        pipe.zrem(keys.objects_by_expiry, *ids)
        pipe.srem(keys.objects_undated, *ids)
        removed = int(pipe.execute()[0])
        for object_id in ids:
            self._cache.pop(object_id, None)
        return removed

    def visible(
        self, as_of: datetime | None, now: datetime | None = None
    ) -> Iterator[KnowledgeObject]:
        """Objects a decision at ``as_of`` may see; undated ones only when ``as_of`` is None."""
        moment = now or utcnow()
        if as_of is None:
            candidates: Iterable[KnowledgeObject] = self.all()
        else:
            raw_ids = self._client.zrangebyscore(
                self._keys.objects_by_observed, "-inf", as_of.timestamp()
            )
            candidates = self._fetch([_text(i) for i in raw_ids])
        return iter([o for o in candidates if o.visible_at(as_of, moment)])

    def all(self) -> Iterator[KnowledgeObject]:
        items = self._client.hscan_iter(self._keys.objects, count=FETCH_CHUNK)
        return iter([self._parse(_text(object_id), raw) for object_id, raw in items])

    def purge_expired(self, now: datetime | None = None) -> list[KnowledgeObject]:
        """Delete objects past ``valid_until`` or their lane TTL; returns what was deleted."""
        moment = now or utcnow()
        expiry = self._keys.objects_by_expiry
        raw_ids = self._client.zrangebyscore(expiry, "-inf", moment.timestamp())
        ids = [_text(i) for i in raw_ids]
        expired = list(self._fetch(ids))
        self._delete_ids(ids)
        return expired

    def __len__(self) -> int:
        return int(self._client.hlen(self._keys.objects))
