"""Trade memory of one bot: idempotent trade events, closed trades and the LLM cost record.

Layout (keys from :class:`~context_service.keys.BotKeys`):

* ``trades:events``        hash  ``trade_id:event:order_id`` -> event JSON (the raw history)
* ``trades:events:time``   zset  event key -> event time
* ``trades:closed``        hash  trade id -> :class:`ClosedTrade` JSON (what stats read)
* ``trades:closed:time``   zset  trade id -> close time
* ``trades:entries``       hash  trade id -> verdict fields of the entry fill
* ``llm:costs`` / ``llm:costs:time``  verdict id -> USD, and -> time of the spend

A Lua script writes an event and everything derived from it at once, and only when the event
key is new, so replaying an event (after a crash, from the journal) changes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import datetime

import redis

from context_service.keys import BotKeys
from context_service.models import as_utc
from context_service.redis_text import as_text

from . import unreadable
from .models import ClosedTrade, TradeEvent

FETCH_CHUNK = 2000
CACHE_LIMIT = 200_000
ENTRY_FIELDS = ("verdict_id", "manifest_id", "context_hash", "confidence")

RECORD_EVENT_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] == 'trade_closed' then
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
  redis.call('ZADD', KEYS[4], ARGV[7], ARGV[5])
elseif ARGV[4] == 'entry_fill' and ARGV[8] ~= '' then
  redis.call('HSETNX', KEYS[5], ARGV[5], ARGV[8])
end
return 1
"""

RECORD_COST_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""


def _max_score(as_of: datetime | None) -> float | str:
    return "+inf" if as_of is None else as_of.timestamp()


class TradeMemory:
    """Read and write one bot's trade history. Built by :class:`~.memory.BotMemory`."""

    def __init__(self, client: redis.Redis, keys: BotKeys) -> None:
        self._client = client
        self._keys = keys
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
        trade_id = str(event.trade_id)
        closed_json, close_epoch, entry_json = "", 0.0, ""
        if event.event == "trade_closed":
            entry_raw = self._client.hget(keys.trade_entries, trade_id)
            entry = json.loads(entry_raw) if entry_raw else None
            try:
                closed = ClosedTrade.from_event(event, entry)
            except ValueError as exc:  # the entry's verdict fields were stored by an older version
                unreadable.note("trade_entry", keys.bot_id, trade_id, exc)
                closed = ClosedTrade.from_event(event, None)
            closed_json = closed.model_dump_json(exclude_none=True)
            close_epoch = closed.close_time.timestamp()
        elif event.event == "entry_fill":
            fields = {name: getattr(event, name) for name in ENTRY_FIELDS}
            if any(value is not None for value in fields.values()):
                entry_json = json.dumps(fields)
        added = self._record_event(
            keys=[
                keys.trade_events,
                keys.trade_events_by_time,
                keys.closed_trades,
                keys.closed_trades_by_time,
                keys.trade_entries,
            ],
            args=[
                event.key,
                event.model_dump_json(exclude_none=True),  # nulls are defaults
                event.time.timestamp(),
                event.event,
                trade_id,
                closed_json,
                close_epoch,
                entry_json,
            ],
        )
        return bool(added)

    def events(self, as_of: datetime | None = None) -> list[TradeEvent]:
        """Raw trade events in time order, up to ``as_of``."""
        ids = self._client.zrangebyscore(self._keys.trade_events_by_time, "-inf", _max_score(as_of))
        events = []
        for raw in self._hmget(self._keys.trade_events, [as_text(i) for i in ids]):
            try:
                events.append(TradeEvent.model_validate_json(raw))
            except ValueError as exc:  # written by an older version; see unreadable.py
                unreadable.note("trade_event", self._keys.bot_id, as_text(raw)[:120], exc)
        return events

    def closed_trades(self, as_of: datetime | None = None) -> list[ClosedTrade]:
        """Trades closed at or before ``as_of``, ordered by close time (then trade id)."""
        ids = self._client.zrangebyscore(
            self._keys.closed_trades_by_time, "-inf", _max_score(as_of)
        )
        parsed = (self._parse_closed(raw) for raw in self._hmget(self._keys.closed_trades, ids))
        trades = [trade for trade in parsed if trade is not None]
        trades.sort(key=lambda t: (t.close_time, t.trade_id))
        return trades

    def _parse_closed(self, raw: str | bytes) -> ClosedTrade | None:
        """Parse a stored closed trade; cached by its JSON (records are written once). None
        (logged, counted) for a record an older version wrote that no longer validates."""
        text = as_text(raw)
        found = self._closed_cache.get(text)
        if found is None:
            try:
                found = ClosedTrade.model_validate_json(text)
            except ValueError as exc:
                unreadable.note("closed_trade", self._keys.bot_id, text[:120], exc)
                return None
            if len(self._closed_cache) >= CACHE_LIMIT:
                self._closed_cache.clear()
            self._closed_cache[text] = found
        return found

    def _hmget(self, key: str, fields: list) -> Iterator[str | bytes]:
        for start in range(0, len(fields), FETCH_CHUNK):
            for raw in self._client.hmget(key, fields[start : start + FETCH_CHUNK]):
                if raw is not None:
                    yield raw

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
        return self._sum_costs(self._hmget(self._keys.llm_costs, [as_text(i) for i in ids]))

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
