"""Entry points of the memory layer: :class:`Memory` (a deployment) and :class:`BotMemory`.

A ``BotMemory`` holds the keys of exactly one (validated) bot id, so nothing reachable from it
can read or write another bot's keys.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import redis

from context_service.keys import Keyspace, validate_bot_id
from context_service.lru import LRU
from context_service.models import Insight, as_utc, utcnow
from context_service.redis_text import as_text
from context_service.settings import Settings, get_settings

from . import unreadable
from .audit import AuditTrail
from .evidence import RedisKnowledgeStore
from .insight_feed import InsightFeed
from .insights import InsightRules, detect_insights
from .market import MarketEvidence
from .models import ClosedTrade, TradeEvent, TradeStats
from .stats import compute_stats
from .trades import TradeMemory


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


class BotMemory:
    """Everything one bot remembers: evidence, trades, statistics, insights, audit trail."""

    def __init__(
        self,
        client: redis.Redis,
        keyspace: Keyspace,
        bot_id: str,
        settings: Settings,
        insight_rules: InsightRules | None = None,
    ) -> None:
        self.bot_id = validate_bot_id(bot_id)
        keys = keyspace.bot(bot_id)
        self.evidence = RedisKnowledgeStore(client, keys, settings.evidence_ttl_hours)
        self.trades = TradeMemory(
            client, keys, settings.redis_wait_replicas, settings.redis_wait_timeout_ms
        )
        self.audit = AuditTrail(client, keys)
        self._client, self._keys = client, keys
        self.insight_rules = insight_rules or InsightRules()

    @property
    def insight_rules(self) -> InsightRules:
        return self._insight_rules

    @insight_rules.setter
    def insight_rules(self, rules: InsightRules) -> None:
        """New thresholds: the incremental insight feed starts over with them."""
        self._insight_rules = rules
        self.insight_feed = InsightFeed(self._client, self._keys, self.trades, rules)

    def record_trade_event(self, event: TradeEvent) -> bool:
        """Store a trade event; False when it was a duplicate (nothing changed)."""
        return self.trades.record(event)

    def closed_trades(self, as_of: datetime | None = None) -> list[ClosedTrade]:
        return self.trades.closed_trades(_utc_or_none(as_of))

    def closed_trades_before(self, moment: datetime) -> list[ClosedTrade]:
        """Trades closed strictly before ``moment``: what a decision at ``moment`` may know."""
        return self.trades.closed_trades_before(as_utc(moment))

    def record_llm_cost(self, at: datetime, usd: float, verdict_id: str) -> None:
        """Record LLM spend behind a verdict, for PnL "net of LLM cost" (once per verdict)."""
        self.trades.record_llm_cost(as_utc(at), float(usd), verdict_id)

    def stats(self, as_of: datetime | None = None) -> TradeStats:
        """Statistics of trades closed at or before ``as_of`` (everything when None)."""
        moment = _utc_or_none(as_of)
        trades = self.trades.closed_trades(moment)
        return compute_stats(self.bot_id, trades, self.trades.llm_cost(moment), moment)

    def insights(self, as_of: datetime | None = None) -> list[Insight]:
        """Insights from trades closed at or before ``as_of``, without storing them.

        Moving forward in time (the sidecar after each close, a backtest), only the trades
        closed since the previous call are read (see :mod:`.insight_feed`)."""
        moment = _utc_or_none(as_of)
        found = self.insight_feed.insights(moment)
        if found is not None:
            return found
        trades = self.trades.closed_trades(moment)
        return detect_insights(trades, self.bot_id, self.insight_rules)

    def refresh_insights(self, now: datetime | None = None) -> list[Insight]:
        """Recompute insights from trades closed by ``now`` and upsert them into the evidence
        store (memory lane); returns them as stored."""
        moment = _utc_or_none(now) or utcnow()
        found = self.insights(moment)
        return self.evidence.upsert_many(found, now=moment) if found else []


class Memory:
    """The memory layer of one deployment (one Redis, one key prefix)."""

    def __init__(
        self,
        client: redis.Redis,
        keyspace: Keyspace | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.client = client
        self.keyspace = keyspace or Keyspace()
        self.settings = settings or get_settings()
        # Bounded: a BotMemory holds parse caches; distinct ids must not grow the process.
        self._bots: LRU[str, BotMemory] = LRU(self.settings.max_cached_bots)
        self.market = MarketEvidence(
            RedisKnowledgeStore(client, self.keyspace.market(), self.settings.evidence_ttl_hours)
        )

    def bot(self, bot_id: str, register: bool = True) -> BotMemory:
        """The memory of ``bot_id`` (validated). ``register`` adds it to the known bots that
        retention walks; read-only tools pass False so a typo does not create a bot."""
        found = self._bots.get(bot_id)
        if found is None:
            found = BotMemory(self.client, self.keyspace, bot_id, self.settings)
            if not register:
                return found
            self.client.sadd(self.keyspace.bots, found.bot_id)
            self._bots.put(bot_id, found)
        return found

    def bot_ids(self) -> list[str]:
        """Bots that have used this memory."""
        members = self.client.smembers(self.keyspace.bots)
        return sorted(as_text(m) for m in members)

    def apply_retention(self, now: datetime | None = None) -> dict[str, Any]:
        """Apply the retention settings to every known bot, each on its own.

        Evidence past its lane TTL or ``valid_until`` is deleted; audit streams lose entries
        written more than ``audit_max_age_days`` ago and beyond ``audit_max_entries``. Trade
        history, and therefore statistics, are kept. Returns counts per bot (market-wide
        evidence: :meth:`purge_market`). A bot whose
        retention fails (an id an older version registered, a key of the wrong type) gets an
        ``error`` entry instead, logged and counted; the other bots expire on time.
        """
        moment = _utc_or_none(now) or utcnow()
        max_age = timedelta(days=self.settings.audit_max_age_days)
        report: dict[str, Any] = {}
        for bot_id in self.bot_ids():
            try:
                bot = self.bot(bot_id, register=False)
                expired = bot.evidence.purge_expired(moment)
                trimmed = bot.audit.trim(self.settings.audit_max_entries, max_age, moment)
            except redis.ConnectionError:
                raise  # Redis is down: every bot would fail the same way; retry next pass
            except Exception as exc:  # one bad bot must not stop retention for the others
                unreadable.note("retention", bot_id, bot_id, exc)
                report[bot_id] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                continue
            report[bot_id] = {"evidence_expired": len(expired), "audit_trimmed": trimmed}
        return report

    def purge_market(self, now: datetime | None = None) -> int:
        """Delete market-wide evidence past its lane TTL or ``valid_until``; returns how many."""
        return len(self.market.purge_expired(_utc_or_none(now) or utcnow()))
