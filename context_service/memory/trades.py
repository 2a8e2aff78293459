"""Trade memory of one bot: idempotent trade events, closed trades and the LLM cost record.

Layout (keys from :class:`~context_service.keys.BotKeys`; encodings in :mod:`.trade_codec`):

* ``trades:events``        hash  ``trade_id:e|x:order_id`` -> compact fill (the raw fills)
* ``trades:closed``        hash  trade id -> compact close event (+ inherited verdict fields):
  the ``trade_closed`` event and what stats read, stored once
* ``trades:closed:time``   zset  trade id -> close time
* ``trades:entries``       hash  trade id -> verdict fields of an open trade's entry fill
  (moved into the closed record when the trade closes)
* ``trades:closed:rewrites`` counter of closes that replaced another close of the same trade
* ``llm:costs`` / ``llm:costs:time``  verdict id -> USD, and -> time of the spend

A Lua script writes an event and everything derived from it at once, and only when the event
is new, so replaying an event (after a crash, from the journal) changes nothing. With
``wait_replicas`` set, a write is acknowledged only once that many replicas have it (``WAIT``);
otherwise it raises, and the journal keeps the event until a replay is acknowledged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime

import redis

from context_service.keys import BotKeys
from context_service.models import as_utc
from context_service.redis_text import as_text

from . import trade_codec as codec
from . import unreadable
from .models import ClosedTrade, TradeEvent

FETCH_CHUNK = 2000
CACHE_LIMIT = 200_000

# KEYS: events, closed, closed:time, entries, rewrites
# ARGV: kind, field (fill field or trade id), value, legacy field, entry fields | close epoch
RECORD_EVENT_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 then return 0 end
if ARGV[1] == 'fill' then
  if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then return 0 end
  if ARGV[5] ~= '' then redis.call('HSETNX', KEYS[4], ARGV[2]:match('^[^:]+'), ARGV[5]) end
  return 1
end
local old = redis.call('HGET', KEYS[2], ARGV[2])
local inherited = redis.call('HGET', KEYS[4], ARGV[2])
if old then
  local head = old
  local sep = string.find(old, string.char(10), 1, true)
  if sep then head = string.sub(old, 1, sep - 1) end
  -- pcall: an unreadable old record is replaced, not a script error on every replay
  local ok, previous = pcall(cjson.decode, head)
  if ok and type(previous) == 'table' and previous[1] == cjson.decode(ARGV[3])[1] then
    return 0
  end
  if not inherited and sep then inherited = string.sub(old, sep + 1) end
  redis.call('INCR', KEYS[5])
end
local value = ARGV[3]
if inherited then value = value .. string.char(10) .. inherited end
redis.call('HSET', KEYS[2], ARGV[2], value)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
return 1
"""

RECORD_COST_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""


class ReplicationTimeout(redis.RedisError):
    """A write reached the primary but not ``wait_replicas`` replicas in time."""


def _max_score(as_of: datetime | None) -> float | str:
    return "+inf" if as_of is None else as_of.timestamp()


class TradeMemory:
    """Read and write one bot's trade history. Built by :class:`~.memory.BotMemory`."""

    def __init__(
        self,
        client: redis.Redis,
        keys: BotKeys,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        self._client = client
        self._keys = keys
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._record_event = client.register_script(RECORD_EVENT_LUA)
        self._record_cost = client.register_script(RECORD_COST_LUA)
        self._closed_cache: dict[str, ClosedTrade] = {}

    def record(self, event: TradeEvent) -> bool:
        """Store ``event``; False when it was already stored (same trade, order and event)."""
        if event.bot_id != self._keys.bot_id:
            raise ValueError(
                f"event for bot {event.bot_id!r} cannot be written to bot {self._keys.bot_id!r}"
            )
        keys = self._keys
        if event.event == "trade_closed":
            field, value = str(event.trade_id), codec.encode_close(event)
            tail = (event.close_time or event.time).timestamp()
        else:
            field, value = codec.fill_field(event), codec.encode_fill(event)
            tail = codec.entry_fields(event) if event.event == "entry_fill" else ""
        added = self._record_event(
            keys=[
                keys.trade_events,
                keys.closed_trades,
                keys.closed_trades_by_time,
                keys.trade_entries,
                keys.closed_rewrites,
            ],
            # event.key: the field earlier versions stored the event under
            args=[
                "close" if event.event == "trade_closed" else "fill",
                field,
                value,
                event.key,
                tail,
            ],
        )
        self._acknowledged(keys.trade_events)
        return bool(added)

    def _acknowledged(self, key: str) -> None:
        """Wait until ``wait_replicas`` replicas have every write so far, or raise."""
        if self.wait_replicas <= 0:
            return
        command = ("WAIT", self.wait_replicas, self.wait_timeout_ms)
        if hasattr(self._client, "get_node_from_key"):  # Redis Cluster: the key's shard
            node = self._client.get_node_from_key(key)
            acked = self._client.execute_command(*command, target_nodes=node)
        else:
            acked = self._client.execute_command(*command)
        if int(acked) < self.wait_replicas:
            raise ReplicationTimeout(
                f"write reached {acked} of {self.wait_replicas} replicas within "
                f"{self.wait_timeout_ms} ms"
            )

    def events(self, as_of: datetime | None = None) -> list[TradeEvent]:
        """Raw trade events (fills and closes) in time order, up to ``as_of``.

        A stored record that no longer decodes (an older version's) is skipped, logged once and
        counted (see :mod:`.unreadable`)."""
        bot_id = self._keys.bot_id
        found: list[TradeEvent] = []
        for field, raw in self._client.hgetall(self._keys.trade_events).items():
            field, text = as_text(field), as_text(raw)
            try:
                found.append(codec.decode_fill(bot_id, field, text))
            except codec.UnreadableRecord as exc:
                unreadable.note("trade_event", bot_id, f"{field} {text[:120]}", exc)
        for trade_id, raw in self._client.hgetall(self._keys.closed_trades).items():
            trade_id, text = as_text(trade_id), as_text(raw)
            try:
                close = codec.decode_close_event(bot_id, trade_id, text)
            except codec.UnreadableRecord as exc:
                unreadable.note("trade_event", bot_id, f"{trade_id} {text[:120]}", exc)
                continue
            if close is not None:
                found.append(close)
        if as_of is not None:
            found = [event for event in found if event.time <= as_of]
        # as the per-event time index of earlier versions ordered them: by time, then key
        # (so a trade's close follows the exit fill of the same moment)
        found.sort(key=lambda e: (e.time, e.key))
        return found

    def closed_trades(self, as_of: datetime | None = None) -> list[ClosedTrade]:
        """Trades closed at or before ``as_of``, ordered by close time (then trade id)."""
        ids = self._client.zrangebyscore(
            self._keys.closed_trades_by_time, "-inf", _max_score(as_of)
        )
        return self.closed_by_ids([as_text(i) for i in ids])

    def closed_by_ids(
        self, ids: list[str], unreadable_ids: set[str] | None = None
    ) -> list[ClosedTrade]:
        """The closed trades of ``ids`` by close time then trade id. Missing ones are skipped;
        so are unreadable ones (logged, counted), whose ids are added to ``unreadable_ids``."""
        trades = []
        for trade_id, raw in self._hmget(self._keys.closed_trades, ids):
            trade = self._parse_closed(trade_id, raw)
            if trade is not None:
                trades.append(trade)
            elif unreadable_ids is not None:
                unreadable_ids.add(trade_id)
        trades.sort(key=lambda t: (t.close_time, t.trade_id))
        return trades

    def closed_trades_before(self, moment: datetime) -> list[ClosedTrade]:
        """Trades closed strictly before ``moment`` (what a decision at ``moment`` may know):
        Redis itself leaves the later ones out, so they are never even read."""
        ids = self._client.zrangebyscore(
            self._keys.closed_trades_by_time, "-inf", f"({moment.timestamp()!r}"
        )
        return self.closed_by_ids([as_text(i) for i in ids])

    def _parse_closed(self, trade_id: str, raw: str | bytes) -> ClosedTrade | None:
        """Parse a stored closed trade; cached by its text (records are written once).

        None (logged, counted) for a record an older version wrote that no longer decodes or
        validates. When only the verdict fields it inherited from its entry fill are at fault,
        the trade is kept without them."""
        text = as_text(raw)
        cache_key = f"{trade_id} {text}"
        found = self._closed_cache.get(cache_key)
        if found is None:
            found = self._decode_closed(trade_id, text)
            if found is None:
                return None
            if len(self._closed_cache) >= CACHE_LIMIT:
                self._closed_cache.clear()
            self._closed_cache[cache_key] = found
        return found

    def _decode_closed(self, trade_id: str, text: str) -> ClosedTrade | None:
        bot_id = self._keys.bot_id
        try:
            return codec.decode_closed(trade_id, text)
        except codec.UnreadableRecord as exc:
            error = exc
        try:
            trade = codec.decode_closed(trade_id, text, inherit=False)
        except codec.UnreadableRecord:
            unreadable.note("closed_trade", bot_id, f"{trade_id} {text[:120]}", error)
            return None
        unreadable.note("trade_entry", bot_id, trade_id, error)  # the entry's verdict fields
        return trade

    def _hmget(self, key: str, fields: list) -> Iterator[tuple[str, str | bytes]]:
        for start in range(0, len(fields), FETCH_CHUNK):
            chunk = fields[start : start + FETCH_CHUNK]
            for field, raw in zip(chunk, self._client.hmget(key, chunk), strict=True):
                if raw is not None:
                    yield field, raw

    # -- LLM spend -----------------------------------------------------------------------
    def record_llm_cost(self, at: datetime, usd: float, verdict_id: str) -> bool:
        """Record what the LLM call behind ``verdict_id`` cost; once per verdict id."""
        at = as_utc(at)
        if not verdict_id or not math.isfinite(usd) or usd < 0:
            raise ValueError("an LLM cost needs a verdict id and a non-negative amount")
        added = self._record_cost(
            keys=[self._keys.llm_costs, self._keys.llm_costs_by_time],
            args=[verdict_id, repr(float(usd)), at.timestamp()],
        )
        return bool(added)

    def llm_cost(self, as_of: datetime | None = None) -> float:
        """Total LLM spend (USD) recorded at or before ``as_of``."""
        if as_of is None:
            return self._sum_costs(self._client.hvals(self._keys.llm_costs))
        ids = self._client.zrangebyscore(self._keys.llm_costs_by_time, "-inf", as_of.timestamp())
        ids = [as_text(i) for i in ids]
        return self._sum_costs(raw for _, raw in self._hmget(self._keys.llm_costs, ids))

    def _sum_costs(self, raws: Iterable[str | bytes]) -> float:
        total = 0.0
        for raw in raws:
            try:
                usd = float(raw)
            except ValueError:
                usd = math.nan
            if not math.isfinite(usd) or usd < 0:  # an older version's NaN or a negative cost
                unreadable.note("llm_cost", self._keys.bot_id, as_text(raw)[:60], "not a cost")
                continue
            total += usd
        return total
