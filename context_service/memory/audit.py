"""The audit trail of one bot: every synthesis and verdict, in a Redis stream.

Stream entry ids follow the time of the event (``at``, in milliseconds), so "what did the bot
see and decide at 14:05" is an XRANGE. Ids must grow: an entry appended with an ``at`` earlier
than the newest entry is filed just after it (its ``at`` field keeps the real time).

Retention ages entries by when they were *written*, not by ``at``: a backtest's entries are dated
at past candles and must stay queryable for ``audit_max_age_days`` after the run. A small sorted
set of write-time marks (one per minute of writing) maps write times to stream ids. Payloads
are stored as one JSON field, so nested manifests survive intact.

Entries are size-bounded (:data:`MAX_ENTRY_BYTES`): long strings (prompts, LLM answers) are cut
and marked, non-finite numbers become null, and an entry still too large is replaced by a note
saying so. Reads turn any stored NaN/Infinity (older versions) into null, so a query never fails.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from redis.cluster import ClusterPipeline
from redis.exceptions import NoScriptError

from context_service.keys import BotKeys
from context_service.models import as_utc, utcnow
from context_service.redis_text import as_text

from .models import AuditEntry

# Picks the id inside Redis so concurrent writers cannot race; works on Redis 6.2 (no "ms-*").
APPEND_LUA = """
local at_ms = tonumber(ARGV[1])
local seq = 0
if at_ms < 0 then at_ms = 0 end
local last_id = nil
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  last_id = last[1][1]
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  -- emptied by a trim: the stream still refuses ids up to its last generated one
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last_id = info[i + 1] end
  end
end
if last_id then
  local dash = string.find(last_id, '-', 1, true)
  local last_ms = tonumber(string.sub(last_id, 1, dash - 1))
  local last_seq = tonumber(string.sub(last_id, dash + 1))
  if at_ms <= last_ms then
    at_ms = last_ms
    seq = last_seq + 1
  end
end
if at_ms == 0 and seq == 0 then seq = 1 end
local id = redis.call('XADD', KEYS[1], at_ms .. '-' .. seq, 'kind', ARGV[2], 'at', ARGV[3],
                      'payload', ARGV[4])
-- A write-time mark at most once a minute: retention ages entries by when they were written.
local written = tonumber(ARGV[5])
local mark = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #mark == 0 or tonumber(mark[2]) <= written - 60 then
  redis.call('ZADD', KEYS[2], written, id)
end
return id
"""

# Drop entries written before a cutoff (ARGV[1], epoch seconds). Stream ids grow in write order
# (APPEND_LUA) and the entries from one mark up to the next were written within 60 s of the first
# mark: so everything before the first mark newer than (cutoff - 60 s)'s mark was written before
# the cutoff. Entries older than the first mark (written by a version without marks) age by their
# id (ARGV[2], the cutoff as a stream id).
TRIM_LUA = """
local cutoff_s = tonumber(ARGV[1])
local function older(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  if tonumber(am) ~= tonumber(bm) then return tonumber(am) < tonumber(bm) end
  return tonumber(as) < tonumber(bs)
end
local threshold = ARGV[2]
local first = redis.call('ZRANGE', KEYS[2], 0, 0)
if #first > 0 and older(first[1], threshold) then threshold = first[1] end
local done = redis.call('ZREVRANGEBYSCORE', KEYS[2], cutoff_s - 60, '-inf', 'LIMIT', 0, 1,
                        'WITHSCORES')
if #done > 0 then
  local after = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. done[2], '+inf', 'LIMIT', 0, 1)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', done[2])
  if #after == 0 then
    local n = redis.call('XLEN', KEYS[1])
    redis.call('DEL', KEYS[1], KEYS[2])
    return n
  end
  if older(threshold, after[1]) then threshold = after[1] end
end
return redis.call('XTRIM', KEYS[1], 'MINID', threshold)
"""

DEFAULT_WINDOW = timedelta(minutes=5)
MAX_ENTRY_BYTES = 256 * 1024
MAX_STRING_CHARS = 16 * 1024


def _ms(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() * 1000)


class AuditTrail:
    """Append and query one bot's audit stream. Built by :class:`~.memory.BotMemory`."""

    def __init__(self, client: redis.Redis, keys: BotKeys) -> None:
        self._client = client
        self._key = keys.audit
        self._marks = keys.audit_written
        self._append = client.register_script(APPEND_LUA)
        self._trim = client.register_script(TRIM_LUA)

    def append(self, kind: str, payload: dict[str, Any], at: datetime | None = None) -> str:
        """Add an entry; returns its stream id. ``payload`` must be JSON-serialisable."""
        return self._run(self._entry_args(kind, payload, at))

    def append_in(
        self, pipe: redis.client.Pipeline, kind: str, payload: dict[str, Any], at: datetime | None
    ) -> QueuedAppend:
        """Queue the append in the caller's pipeline (``transaction=False``), so the entry and
        the caller's other writes take one round trip; execute it with
        ``raise_on_error=False`` and hand the replies to :meth:`QueuedAppend.settle`.

        The script is called by its digest alone: redis-py would otherwise ask ``SCRIPT
        EXISTS`` first, a round trip of its own. A server that does not hold the script yet
        (just started, or flushed) answers ``NOSCRIPT``; ``settle`` then appends the entry the
        usual way, which loads the script. A cluster's pipeline refuses scripts: there the
        entry is appended at once, in a round trip of its own.
        """
        args = self._entry_args(kind, payload, at)
        if isinstance(pipe, ClusterPipeline):
            return QueuedAppend(self, args, None, self._run(args))
        position = len(pipe.command_stack)
        pipe.evalsha(self._append.sha, 2, self._key, self._marks, *args)
        return QueuedAppend(self, args, position)

    def _run(self, args: list[int | str]) -> str:
        return as_text(self._append(keys=[self._key, self._marks], args=args))

    def _entry_args(
        self, kind: str, payload: dict[str, Any], at: datetime | None
    ) -> list[int | str]:
        if not kind or len(kind) > 64:
            raise ValueError("audit kind must be 1-64 characters")
        moment = as_utc(at) if at is not None else utcnow()
        try:
            document = bounded_document(payload)
        except TypeError as exc:
            raise ValueError(f"audit payload is not JSON-serialisable: {exc}") from None
        return [_ms(moment), kind, moment.isoformat(), document, int(time.time())]

    def query(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries between ``start`` and ``end`` (inclusive), oldest first, at most ``limit``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        low = "-" if start is None else str(_ms(start))
        high = "+" if end is None else f"{_ms(end)}-18446744073709551615"
        found: list[AuditEntry] = []
        while len(found) < limit:
            batch = self._client.xrange(self._key, low, high, count=max(limit, 100))
            if not batch:
                break
            for entry_id, fields in batch:
                entry = self._entry(entry_id, fields)
                if kind is None or entry.kind == kind:
                    found.append(entry)
                    if len(found) == limit:
                        break
            low = "(" + as_text(batch[-1][0])
        return found

    def at(
        self, moment: datetime, window: timedelta = DEFAULT_WINDOW, limit: int = 100
    ) -> list[AuditEntry]:
        """What the bot saw and decided around ``moment``: entries within ``window`` of it."""
        return self.query(moment - window, moment + window, limit=limit)

    def trim(self, max_entries: int, max_age: timedelta, now: datetime | None = None) -> int:
        """Drop entries written more than ``max_age`` before ``now`` and all but the newest
        ``max_entries``."""
        cutoff = (now or utcnow()) - max_age
        removed = int(
            self._trim(
                keys=[self._key, self._marks], args=[int(cutoff.timestamp()), f"{_ms(cutoff)}-0"]
            )
        )
        removed += int(self._client.xtrim(self._key, maxlen=max_entries, approximate=False))
        return removed

    def __len__(self) -> int:
        return int(self._client.xlen(self._key))

    @staticmethod
    def _entry(entry_id: str | bytes, fields: dict) -> AuditEntry:
        data = {as_text(k): as_text(v) for k, v in fields.items()}
        return AuditEntry(
            id=as_text(entry_id),
            kind=data["kind"],
            at=datetime.fromisoformat(data["at"]).astimezone(UTC),
            payload=json.loads(data["payload"], parse_constant=lambda _: None),
        )


@dataclass
class QueuedAppend:
    """An append queued by :meth:`AuditTrail.append_in`, until its pipeline has run."""

    trail: AuditTrail
    args: list[int | str]
    position: int | None  # of its reply in the pipeline's; None: appended at once
    entry_id: str | None = None

    def settle(self, replies: list[Any]) -> list[Any]:
        """Take the append's reply out of the pipeline's ``replies`` and return the others,
        in order, raising the first error among them as ``execute()`` would. The entry's
        stream id goes to :attr:`entry_id`; a ``NOSCRIPT`` reply is answered by appending the
        usual way (loading the script); any other error of the append is raised."""
        others = list(replies)
        if self.position is not None:
            own = others.pop(self.position)
            if isinstance(own, NoScriptError):
                self.entry_id = self.trail._run(self.args)
            elif isinstance(own, Exception):
                raise own
            else:
                self.entry_id = as_text(own)
        for reply in others:
            if isinstance(reply, Exception):
                raise reply
        return others


def bounded_document(payload: dict[str, Any], max_bytes: int = MAX_ENTRY_BYTES) -> str:
    """The stored JSON of ``payload``: finite and at most ``max_bytes`` bytes (long strings cut
    first, then a note in place of the entry)."""
    try:  # the common case: one dump
        document = json.dumps(
            payload, default=_json_default, separators=(",", ":"), allow_nan=False
        )
        if len(document) <= max_bytes and len(document.encode()) <= max_bytes:
            return document
    except ValueError:  # a non-finite number somewhere
        pass
    plain = json.loads(json.dumps(payload, default=_json_default))
    document = json.dumps(_bounded(plain), separators=(",", ":"), allow_nan=False)
    if len(document.encode()) <= max_bytes:
        return document
    keys = sorted(payload)[:50]
    return json.dumps(
        {"truncated": True, "bytes": len(document.encode()), "keys": keys},
        separators=(",", ":"),
    )


def _bounded(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        return value[:MAX_STRING_CHARS] + f"... [cut: {len(value)} characters]"
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return value


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")  # type: ignore[no-any-return]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
