"""Insights kept up to date after each close without re-reading every closed trade.

The feed holds an :class:`~.insights.InsightTracker` of one bot and, on each query, reads only
the trades closed since the last one it folded in (one atomic read of the close-time index). It
starts over from all trades when the index says its picture is incomplete: a trade recorded late
with an earlier close time (a journal replay, another sidecar), or a close that replaced another.
A query for an earlier moment than the tracker has reached is answered from scratch instead.
A stored record that no longer decodes (see :mod:`.unreadable`) is skipped and remembered, so it
counts as read and does not make every query start over.
"""

from __future__ import annotations

import threading
from datetime import datetime

import redis

from context_service.keys import BotKeys
from context_service.models import Insight
from context_service.redis_text import as_text

from .insights import InsightRules, InsightTracker
from .trades import TradeMemory


class InsightFeed:
    """Incremental insights of one bot (thread-safe)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: BotKeys,
        trades: TradeMemory,
        rules: InsightRules,
    ) -> None:
        self._client = client
        self._keys = keys
        self._trades = trades
        self._rules = rules
        self._lock = threading.Lock()
        self._tracker = InsightTracker(keys.bot_id, rules)
        self._unreadable: set[str] = set()  # ids in the index whose record was skipped
        self._rewrites: str | None = None
        self.rebuilds = 0  # how often it started over (tests and benches read it)
        self.trades_read = 0  # closed trades read so far, over all calls

    def insights(self, as_of: datetime | None) -> list[Insight] | None:
        """Insights of the trades closed by ``as_of``; None when ``as_of`` is earlier than what
        the feed already folded in (the caller computes those from scratch)."""
        with self._lock:
            last = self._tracker.last
            if last is not None and as_of is not None and as_of < last[0]:
                return None
            if not self._catch_up(as_of):
                self._tracker = InsightTracker(self._keys.bot_id, self._rules)
                self._unreadable = set()
                self.rebuilds += 1
                if not self._catch_up(as_of):  # written to while we read: read it all again
                    return None
            return self._tracker.insights()

    def _catch_up(self, as_of: datetime | None) -> bool:
        """Fold in the trades closed since the last one; False when the picture is broken."""
        tracker, keys = self._tracker, self._keys
        upper = "+inf" if as_of is None else as_of.timestamp()
        # From the last close time on (inclusive): another trade closing at that very moment
        # may follow it (a higher trade id); one that sorts before it shows in the count below.
        lower = "-inf" if tracker.last is None else tracker.last[0].timestamp()
        pipe = self._client.pipeline(transaction=True)
        pipe.get(keys.closed_rewrites)
        pipe.zcount(keys.closed_trades_by_time, "-inf", upper)
        pipe.zrangebyscore(keys.closed_trades_by_time, lower, upper)
        rewrites, total, ids = pipe.execute()
        rewrites = None if rewrites is None else as_text(rewrites)
        if tracker.count and rewrites != self._rewrites:
            return False
        self._rewrites = rewrites
        self.trades_read += len(ids)
        fresh = self._trades.closed_by_ids([as_text(i) for i in ids], self._unreadable)
        fresh = [t for t in fresh if tracker.accepts(t)]
        if tracker.count + len(self._unreadable) + len(fresh) != int(total):
            return False
        for trade in fresh:
            tracker.add(trade)
        return True
