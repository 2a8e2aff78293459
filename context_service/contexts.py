"""One context engine per bot, and the two caches in front of its synthesis.

* **Snapshot memo**: a verdict request's TA snapshot becomes market-data evidence; the same
  snapshot asked about again within ``SNAPSHOT_MEMO_S`` (a replay hit, a retry) is not
  written again.
* **Synthesis memo** (Redis stores only): a synthesis is reused while the bot's and the
  market's evidence versions are unchanged; live syntheses (no ``as_of``) also depend on the
  clock (recency, expiry) and are reused for at most ``LIVE_SYNTHESIS_MEMO_S``.

Everything below these (each engine's mirror of its stores, the Redis stores' parsed
snapshots) is kept in step by version counters, never by time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from context_service.contract import VerdictRequest
from context_service.engine import ContextEngine, Synthesis
from context_service.evidence.assets import pair_assets
from context_service.keys import validate_bot_id
from context_service.lru import LRU
from context_service.models import KnowledgeObject
from context_service.redis_text import as_text
from context_service.verdicts.market_data import snapshot_evidence, snapshot_evidence_id

# How long an identical snapshot is trusted to still be in the store without re-upserting it.
SNAPSHOT_MEMO_S = 60.0
LIVE_SYNTHESIS_MEMO_S = 1.0
SYNTHESIS_MEMO_ENTRIES = 2_048
# Snapshot memo entries kept per cached bot (pairs x timeframes a bot trades).
PUSHED_PER_BOT = 16


class BotContexts:
    """The engines of the bots a service has used most recently (``max_cached_bots``; the
    others are dropped and rebuilt from Redis when asked again), built from its components."""

    def __init__(self, components: Any) -> None:
        self.components = components
        # Bounded: distinct bot ids must not grow the process without limit.
        bots = components.settings.max_cached_bots
        self._bots: LRU[str, tuple[ContextEngine, threading.Lock]] = LRU(bots)
        self._pushed: LRU[tuple[str, str], tuple[str, float]] = LRU(bots * PUSHED_PER_BOT)
        self._memo: OrderedDict[tuple, tuple[Any, float, Synthesis]] = OrderedDict()
        self._memo_lock = threading.Lock()

    def engine(self, bot_id: str) -> ContextEngine:
        """The context engine of ``bot_id`` (one per bot, cached)."""
        return self._state(bot_id)[0]

    def _lock(self, bot_id: str) -> threading.Lock:
        return self._state(bot_id)[1]

    def _state(self, bot_id: str) -> tuple[ContextEngine, threading.Lock]:
        validate_bot_id(bot_id)

        def create() -> tuple[ContextEngine, threading.Lock]:
            c = self.components
            # memory mode: the engine's own store, which it keeps in step without re-reading
            store = c.memory.bot(bot_id).evidence if c.evidence_store == "redis" else None
            engine = ContextEngine(store=store, model=c.settings.llm_model, shared=c.market)
            return engine, threading.Lock()

        return self._bots.get_or_create(bot_id, create)

    def __len__(self) -> int:
        return len(self._bots)

    def upsert(
        self, bot_id: str, objects: list[KnowledgeObject], now: datetime
    ) -> list[KnowledgeObject]:
        engine = self.engine(bot_id)
        with self._lock(bot_id):
            return engine.upsert_many(objects, now=now)

    def synthesize(
        self, bot_id: str, budget: int, as_of: datetime | None, now: datetime
    ) -> Synthesis:
        engine = self.engine(bot_id)
        with self._lock(bot_id):
            return self._synthesize(bot_id, engine, budget, as_of, now)

    def for_request(self, request: VerdictRequest, budget: int, now: datetime) -> Synthesis:
        """The request's snapshot stored as evidence, then the context as of ``as_of``."""
        bot_id = request.bot_id
        engine = self.engine(bot_id)
        assets = pair_assets(request.pair)  # market items about other assets only stay out
        with self._lock(bot_id):
            self._push_snapshot(bot_id, engine, request, now)
            return self._synthesize(bot_id, engine, budget, request.as_of, now, assets)

    def _synthesize(
        self,
        bot_id: str,
        engine: ContextEngine,
        budget: int,
        as_of: datetime | None,
        now: datetime,
        assets: frozenset[str] | None = None,
    ) -> Synthesis:
        """``engine.synthesize``, reused while the evidence it read is unchanged."""
        c = self.components
        if c.evidence_store != "redis":
            return engine.synthesize(budget, as_of=as_of, now=now, assets=assets)
        # Two slots (the bot's tag and the market's): a pipeline, not MGET, so a cluster works.
        pipe = c.redis.pipeline(transaction=False)
        pipe.get(c.keyspace.bot(bot_id).objects_version)
        pipe.get(c.keyspace.market().objects_version)
        # The stores' change tokens, as change_token() spells them.
        version = tuple("0" if v is None else as_text(v) for v in pipe.execute())
        key = (bot_id, budget, as_of, assets)
        with self._memo_lock:  # shared by every bot; the caller holds only its bot's lock
            hit = self._memo.get(key)
        fresh = hit is not None and hit[0] == version
        if fresh and as_of is None:
            fresh = time.monotonic() - hit[1] < LIVE_SYNTHESIS_MEMO_S  # type: ignore[index]
        if fresh:
            return hit[2]  # type: ignore[index]
        synthesis = engine.synthesize(budget, as_of=as_of, now=now, tokens=version, assets=assets)
        with self._memo_lock:
            self._memo[key] = (version, time.monotonic(), synthesis)
            self._memo.move_to_end(key)
            while len(self._memo) > SYNTHESIS_MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return synthesis

    def _push_snapshot(
        self, bot_id: str, engine: ContextEngine, request: VerdictRequest, now: datetime
    ) -> None:
        """Upsert the request's TA snapshot, unless this very snapshot was pushed moments ago
        (a repeated question about the same candle: replay hits, retries)."""
        snapshot = request.snapshot
        fingerprint = f"{snapshot.summary_line()}|{snapshot.candle_time.isoformat()}"
        memo_key = (bot_id, snapshot_evidence_id(snapshot))
        pushed = self._pushed.get(memo_key)
        if pushed and pushed[0] == fingerprint and time.monotonic() - pushed[1] < SNAPSHOT_MEMO_S:
            return
        engine.upsert(snapshot_evidence(snapshot), now=now)
        self._pushed.put(memo_key, (fingerprint, time.monotonic()))
