"""An evidence store in Redis (one bot's, or the market-wide one): the engine's KnowledgeStore.

Layout (the keys of one bot, or of the market-wide store; see
:class:`~context_service.keys.EvidenceKeys`):

* ``objects``           hash   object id -> JSON of the knowledge object
* ``objects:observed``  zset   object id -> ``observed_at`` (epoch seconds), dated objects only
* ``objects:undated``   set    ids of objects without ``observed_at``
* ``objects:expiry``    zset   object id -> when it expires: the earlier of ``valid_until`` and
  the lane TTL deadline (``observed_at``, else the time it was stored, plus the lane's TTL)

* ``objects:version``   counter bumped in the same MULTI/EXEC as every write

Reads keep a snapshot of all parsed objects, sorted by ``observed_at``, tagged with the version
it was read at. ``visible()`` costs one GET of the version while nothing changed, then a bisect
and a filter in process. This store's own writes patch the snapshot in place (when the version
moved by exactly one); a write by another process makes the next read reload the hash in one
atomic read, re-parsing only objects whose JSON changed. ``ids_as_of()`` answers from the
``objects:observed`` index on the server without loading anything.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from pydantic import ValidationError

from context_service.keys import EvidenceKeys
from context_service.models import KnowledgeObject, merge_upsert, parse_knowledge, utcnow
from context_service.redis_text import as_text

from . import unreadable
from .lanes import lane_of

FETCH_CHUNK = 1000
# Write merged objects only if the version is still the one they were merged against (the read
# snapshot's): one round trip instead of WATCH / HMGET / MULTI-EXEC. Per object, ARGV holds
# id, JSON, observed_at epoch ("" when undated) and expiry epoch ("" when none).
WRITE_IF_VERSION_LUA = """
local version = redis.call('GET', KEYS[5])
if (version or '0') ~= ARGV[1] then return false end
for i = 2, #ARGV, 4 do
  local id, json, observed, expiry = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', KEYS[1], id, json)
  if observed ~= '' then
    redis.call('ZADD', KEYS[2], observed, id)
    redis.call('SREM', KEYS[4], id)
  else
    redis.call('ZREM', KEYS[2], id)
    redis.call('SADD', KEYS[4], id)
  end
  if expiry ~= '' then redis.call('ZADD', KEYS[3], expiry, id)
  else redis.call('ZREM', KEYS[3], id) end
end
return redis.call('INCR', KEYS[5])
"""
CACHE_LIMIT = 50_000
PATCH_LIMIT = 64


def _dump(obj: KnowledgeObject) -> str:
    """Stored form: JSON without null fields (they are the defaults), about 40% smaller."""
    return obj.model_dump_json(exclude_none=True)


@dataclass(frozen=True)
class _Snapshot:
    """Every object of the bot as of one store version."""

    version: str  # the objects version it was read at ("0": never written)
    dated: list[KnowledgeObject]  # sorted by observed_at
    epochs: list[float]  # observed_at of ``dated``, for bisect
    undated: list[KnowledgeObject]  # sorted by id
    by_id: dict[str, KnowledgeObject]


class RedisKnowledgeStore:
    """Implements :class:`~context_service.engine.store.KnowledgeStore` on one bot's keys.

    Upserts follow :func:`~context_service.models.merge_upsert`, exactly like the in-memory
    store. Objects handed out are shared with a parse cache: treat them as read-only.
    """

    def __init__(
        self, client: redis.Redis, keys: EvidenceKeys, ttl_hours: dict[str, float] | None = None
    ) -> None:
        self._client = client
        self._keys = keys
        self._ttl_hours = dict(ttl_hours or {})
        self._cache: dict[str, tuple[str, KnowledgeObject]] = {}
        self._snapshot: _Snapshot | None = None
        self._write_if_version = client.register_script(WRITE_IF_VERSION_LUA)
        # (version before, version after) of this store's latest write: a reader whose view
        # was at "before" is still complete at "after" once it applied the same write.
        self.own_write: tuple[str, str] | None = None

    # -- helpers -------------------------------------------------------------------------
    def _parse(self, object_id: str, raw: str | bytes) -> KnowledgeObject | None:
        """The stored object, or None (logged, counted) when it no longer validates: one bad
        record written by an older version must not fail every read of the bot."""
        text = as_text(raw)
        hit = self._cache.get(object_id)
        if hit is not None and hit[0] == text:
            return hit[1]
        try:
            obj = parse_knowledge(text)
        except (ValidationError, ValueError) as exc:
            unreadable.note("evidence", self._keys.bot_id, object_id, exc)
            return None
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[object_id] = (text, obj)
        return obj

    def _parse_all(self, items: Iterable[tuple[str, str | bytes]]) -> list[KnowledgeObject]:
        parsed = (self._parse(object_id, raw) for object_id, raw in items)
        return [obj for obj in parsed if obj is not None]

    def expires_at(self, obj: KnowledgeObject, stored_at: datetime) -> datetime | None:
        """When ``obj`` leaves the store: ``valid_until`` or its lane's TTL, whichever is first."""
        deadlines = [obj.valid_until] if obj.valid_until else []
        ttl = self._ttl_hours.get(lane_of(obj))
        if ttl is not None and not obj.pinned:
            # Observed near year 9999: its lane deadline lies past any date.
            with suppress(OverflowError):
                deadlines.append((obj.observed_at or stored_at) + timedelta(hours=ttl))
        return min(deadlines) if deadlines else None

    def _write(self, pipe: redis.client.Pipeline, obj: KnowledgeObject, moment: datetime) -> None:
        keys = self._keys
        pipe.hset(keys.objects, obj.id, _dump(obj))
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
            present = [(i, raw) for i, raw in zip(chunk, raws, strict=True) if raw is not None]
            yield from self._parse_all(present)

    # -- KnowledgeStore ------------------------------------------------------------------
    def upsert(self, obj: KnowledgeObject, now: datetime | None = None) -> KnowledgeObject:
        return self.upsert_many([obj], now)[0]

    def upsert_many(
        self, objects: Iterable[KnowledgeObject], now: datetime | None = None
    ) -> list[KnowledgeObject]:
        """Merge and write all objects atomically.

        Fast path: merged against the read snapshot and written by one script, if the store's
        version is still the snapshot's. Otherwise (another writer came between, or nothing
        read yet): one MULTI/EXEC under WATCH, retried if another writer interferes.
        """
        incoming = list(objects)
        if not incoming:
            return []
        moment = now or utcnow()
        fast = self._write_from_snapshot(incoming, moment)
        if fast is not None:
            return fast
        ids = [obj.id for obj in incoming]
        stored: list[KnowledgeObject] = []

        def write(pipe: redis.client.Pipeline) -> None:
            stored.clear()
            current = dict(zip(ids, pipe.hmget(self._keys.objects, ids), strict=True))
            # An unreadable stored version is replaced, as if absent: that is the repair.
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
            pipe.incr(self._keys.objects_version)
            stored.extend(merged_all)

        results = self._client.transaction(write, self._keys.objects)
        self._apply_own_write(int(results[-1]), stored, [])
        return stored

    def _write_from_snapshot(
        self, incoming: list[KnowledgeObject], moment: datetime
    ) -> list[KnowledgeObject] | None:
        """The fast path of :meth:`upsert_many`; None when the snapshot is not current."""
        snapshot = self._snapshot
        if snapshot is None:
            return None
        latest: dict[str, KnowledgeObject | None] = {}
        merged_all = []
        for obj in incoming:
            previous = latest[obj.id] if obj.id in latest else snapshot.by_id.get(obj.id)
            merged = merge_upsert(previous, obj, moment)
            latest[obj.id] = merged
            merged_all.append(merged)
        args: list[str | float] = [snapshot.version or "0"]
        for merged in latest.values():
            expiry = self.expires_at(merged, merged.updated_at or moment)
            observed = merged.observed_at
            args += [
                merged.id,
                _dump(merged),
                "" if observed is None else observed.timestamp(),
                "" if expiry is None else expiry.timestamp(),
            ]
        keys = self._keys
        version = self._write_if_version(
            keys=[
                keys.objects,
                keys.objects_by_observed,
                keys.objects_by_expiry,
                keys.objects_undated,
                keys.objects_version,
            ],
            args=args,
        )
        if version is None:
            return None  # another writer came between: the careful path
        self._apply_own_write(int(version), merged_all, [])
        return merged_all

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
        pipe.incr(keys.objects_version)
        results = pipe.execute()
        for object_id in ids:
            self._cache.pop(object_id, None)
        self._apply_own_write(int(results[-1]), [], ids)
        return int(results[0])

    def visible(
        self, as_of: datetime | None, now: datetime | None = None
    ) -> Iterator[KnowledgeObject]:
        """Objects a decision at ``as_of`` may see; undated ones only when ``as_of`` is None."""
        moment = now or utcnow()
        snapshot = self._current()
        if as_of is None:
            candidates: Iterable[KnowledgeObject] = [*snapshot.dated, *snapshot.undated]
        else:
            candidates = snapshot.dated[: bisect_right(snapshot.epochs, as_of.timestamp())]
        return iter([o for o in candidates if o.visible_at(as_of, moment)])

    def ids_as_of(self, as_of: datetime) -> list[str]:
        """Ids of objects observed at or before ``as_of`` (server-side, no parsing)."""
        raw_ids = self._client.zrangebyscore(
            self._keys.objects_by_observed, "-inf", as_of.timestamp()
        )
        return [as_text(i) for i in raw_ids]

    def all(self) -> Iterator[KnowledgeObject]:
        snapshot = self._current()
        return iter([*snapshot.dated, *snapshot.undated])

    def change_token(self) -> str:
        """A value that changes with every write of any process (the objects version).

        The context engine skips re-reading the store while it stays the same.
        """
        version = self._client.get(self._keys.objects_version)
        return "0" if version is None else as_text(version)

    def _current(self) -> _Snapshot:
        """The read snapshot, reloaded when the version in Redis has moved."""
        version = self.change_token()
        if self._snapshot is not None and self._snapshot.version == version:
            return self._snapshot
        pipe = self._client.pipeline(transaction=True)
        pipe.get(self._keys.objects_version)
        pipe.hgetall(self._keys.objects)
        version, items = pipe.execute()
        objects = self._parse_all((as_text(object_id), raw) for object_id, raw in items.items())
        self._forget_missing({o.id for o in objects})
        self._snapshot = self._build("0" if version is None else as_text(version), objects)
        return self._snapshot

    def _apply_own_write(
        self, version: int, written: list[KnowledgeObject], deleted: list[str]
    ) -> None:
        """Patch the read snapshot with this store's own write, if no other writer came
        between (the version moved by exactly one); otherwise the next read reloads."""
        self.own_write = (str(version - 1) if version > 1 else "0", str(version))
        snapshot = self._snapshot
        if snapshot is None or snapshot.version != str(version - 1):
            return
        latest = {o.id: o for o in written}  # the same id twice: the last merge wins
        gone = {*deleted, *latest}
        for obj in latest.values():
            self._cache[obj.id] = (_dump(obj), obj)
        if len(latest) > PATCH_LIMIT:  # a big batch: re-sorting is cheaper than inserting
            kept = [o for o in (*snapshot.dated, *snapshot.undated) if o.id not in gone]
            self._snapshot = self._build(str(version), [*kept, *latest.values()])
            return
        # Few objects change per write: remove and insert in place rather than re-sort.
        dated, epochs = list(snapshot.dated), list(snapshot.epochs)
        undated, by_id = list(snapshot.undated), dict(snapshot.by_id)
        for object_id in gone:
            old = by_id.pop(object_id, None)
            if old is None:
                continue
            if old.observed_at is None:
                undated = [o for o in undated if o.id != object_id]
                continue
            at = bisect_left(epochs, old.observed_at.timestamp())
            while dated[at].id != object_id:
                at += 1
            del dated[at], epochs[at]
        for obj in latest.values():
            by_id[obj.id] = obj
            if obj.observed_at is None:
                insort(undated, obj, key=lambda o: o.id)
                continue
            epoch = obj.observed_at.timestamp()
            at = bisect_right(epochs, epoch)
            while at > 0 and epochs[at - 1] == epoch and dated[at - 1].id > obj.id:
                at -= 1  # ties are ordered by id, as in _build
            dated.insert(at, obj)
            epochs.insert(at, epoch)
        self._snapshot = _Snapshot(str(version), dated, epochs, undated, by_id)

    @staticmethod
    def _build(version: str, objects: list[KnowledgeObject]) -> _Snapshot:
        dated = sorted(
            (o for o in objects if o.observed_at is not None),
            key=lambda o: (o.observed_at, o.id),
        )
        return _Snapshot(
            version=version,
            dated=dated,
            epochs=[o.observed_at.timestamp() for o in dated],  # type: ignore[union-attr]
            undated=sorted((o for o in objects if o.observed_at is None), key=lambda o: o.id),
            by_id={o.id: o for o in objects},
        )

    def _forget_missing(self, present: set[str]) -> None:
        for object_id in [i for i in self._cache if i not in present]:
            del self._cache[object_id]

    def purge_expired(self, now: datetime | None = None) -> list[KnowledgeObject]:
        """Delete objects past ``valid_until`` or their lane TTL; returns what was deleted."""
        moment = now or utcnow()
        expiry = self._keys.objects_by_expiry
        raw_ids = self._client.zrangebyscore(expiry, "-inf", moment.timestamp())
        ids = [as_text(i) for i in raw_ids]
        expired = list(self._fetch(ids))
        self._delete_ids(ids)
        return expired

    def __len__(self) -> int:
        return int(self._client.hlen(self._keys.objects))
