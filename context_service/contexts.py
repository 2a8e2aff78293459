"""One context engine per bot, and the two caches in front of its synthesis.

* **Snapshot memo**: a verdict request's TA snapshot becomes market-data evidence; the same
  snapshot asked about again within ``SNAPSHOT_MEMO_S`` (a replay hit, a retry) is not
  written again, and after that only if the store no longer holds it unchanged (one read
  instead of a write that would move the bot's evidence version).
* **Synthesis memo** (Redis stores only): a synthesis is reused while the bot's and the
  market's evidence versions are unchanged; live syntheses (no ``as_of``) also depend on the
  clock (recency, expiry) and are reused for at most ``LIVE_SYNTHESIS_MEMO_S``. Versions only
  grow, so a bot's entries of older versions can never be reused: they are dropped as soon as
  one of a newer version is stored (a new candle's request makes one synthesis, and it must
  not linger until the memo is full: thousands of live syntheses made the garbage collector's
  young-generation passes take 20 ms).

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
from context_service.models import KnowledgeObject, merge_upsert
from context_service.redis_text import as_text
from context_service.verdicts.market_data import snapshot_evidence, snapshot_evidence_id

# How long an identical snapshot is trusted to still be in the store without re-upserting it.
SNAPSHOT_MEMO_S = 60.0
LIVE_SYNTHESIS_MEMO_S = 1.0
SYNTHESIS_MEMO_ENTRIES = 2_048
# Snapshot memo entries kept per cached bot (pairs x timeframes a bot trades).
PUSHED_PER_BOT = 16


class SynthesisMemo:
    """Syntheses by bot and question, valid for one version of the bot's (and the market's)
    evidence; a bot's entries of an older version are dropped when a newer one is stored.
    At most ``capacity`` entries in all (the least recently used bot's are dropped first)."""

    def __init__(self, capacity: int = SYNTHESIS_MEMO_ENTRIES) -> None:
        self.capacity = capacity
        # bot -> (version, question -> (stored at, synthesis)), least recently used bot first
        self._bots: OrderedDict[str, tuple[Any, dict[tuple, tuple[float, Synthesis]]]] = (
            OrderedDict()
        )
        self._entries = 0
        self._lock = threading.Lock()

    def get(
        self, bot_id: str, version: Any, question: tuple, max_age_s: float | None
    ) -> Synthesis | None:
        """The synthesis stored for ``question`` at ``version`` (no older than ``max_age_s``
        when given), else None."""
        with self._lock:
            memo = self._bots.get(bot_id)
            if memo is None or memo[0] != version:
                return None
            found = memo[1].get(question)
        if found is None or (max_age_s is not None and time.monotonic() - found[0] >= max_age_s):
            return None
        return found[1]

    def put(self, bot_id: str, version: Any, question: tuple, synthesis: Synthesis) -> None:
        with self._lock:
            memo = self._bots.pop(bot_id, None)
            if memo is None or memo[0] != version:
                self._entries -= len(memo[1]) if memo else 0
                memo = (version, {})
            self._entries += question not in memo[1]
            memo[1][question] = (time.monotonic(), synthesis)
            self._bots[bot_id] = memo  # most recently used
            while self._entries > self.capacity and self._bots:
                _, (_, dropped) = self._bots.popitem(last=False)
                self._entries -= len(dropped)

    def __len__(self) -> int:
        return self._entries


class BotContexts:
    """The engines of the bots a service has used most recently (``max_cached_bots``; the
    others are dropped and rebuilt from Redis when asked again), built from its components."""

    def __init__(self, components: Any) -> None:
        self.components = components
        # Bounded: distinct bot ids must not grow the process without limit.
        bots = components.settings.max_cached_bots
        self._bots: LRU[str, tuple[ContextEngine, threading.Lock]] = LRU(bots)
        self._pushed: LRU[tuple[str, str], tuple[str, float]] = LRU(bots * PUSHED_PER_BOT)
        self._memo = SynthesisMemo()

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
        question = (budget, as_of, assets)
        max_age = LIVE_SYNTHESIS_MEMO_S if as_of is None else None
        known = self._memo.get(bot_id, version, question, max_age)
        if known is not None:
            return known
        synthesis = engine.synthesize(budget, as_of=as_of, now=now, tokens=version, assets=assets)
        self._memo.put(bot_id, version, question, synthesis)
        return synthesis

    def _push_snapshot(
        self, bot_id: str, engine: ContextEngine, request: VerdictRequest, now: datetime
    ) -> None:
        """Upsert the request's TA snapshot, unless this very snapshot was pushed moments ago
        (a repeated question about the same candle: replay hits, retries), or was pushed
        before and the store still holds it unchanged: a write moves the bot's evidence
        version, and every synthesis of the bot must then be made again."""
        snapshot = request.snapshot
        fingerprint = f"{snapshot.summary_line()}|{snapshot.candle_time.isoformat()}"
        memo_key = (bot_id, snapshot_evidence_id(snapshot))
        pushed = self._pushed.get(memo_key)
        same = pushed is not None and pushed[0] == fingerprint
        if same and time.monotonic() - pushed[1] < SNAPSHOT_MEMO_S:  # type: ignore[index]
            return
        incoming = snapshot_evidence(snapshot)
        stored = engine.get(incoming.id) if same else None
        if stored is None or merge_upsert(stored, incoming, stored.updated_at) != stored:
            engine.upsert(incoming, now=now)
        self._pushed.put(memo_key, (fingerprint, time.monotonic()))
