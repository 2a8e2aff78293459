"""The context service facade: one object that both transports use.

The HTTP routes (``context_service.api``) and the strategy's in-process client in backtests call
the same :class:`ContextService`. It owns one context engine per bot, the verdict provider chain
(replay -> llm -> rules -> hold), the LLM guardrails (cost ledger, rate limits, breaker), the
replay cache, usage counters, alerts and the audit trail.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import redis

from context_service.composition import Components, compose, compose_from_settings
from context_service.contract import Verdict, VerdictRequest
from context_service.engine import ContextEngine, Synthesis
from context_service.keys import Keyspace, validate_bot_id
from context_service.llm.client import LLMClient
from context_service.memory import TradeEvent, TradeStats
from context_service.models import KnowledgeObject, utcnow
from context_service.settings import Settings
from context_service.verdicts.chain import live_start, resolve_chain
from context_service.verdicts.market_data import snapshot_evidence, snapshot_evidence_id
from context_service.verdicts.provider import Ask, VerdictProvider
from context_service.verdicts.record import VerdictRecorder, iso, make_verdict, manifest_summary
from context_service.verdicts.runner import Providers

# How long an identical snapshot is trusted to still be in the store without re-upserting it.
SNAPSHOT_MEMO_S = 60.0
# Reuse of an unchanged bot's synthesis (see ContextService._synthesize_memo).
LIVE_SYNTHESIS_MEMO_S = 1.0
SYNTHESIS_MEMO_ENTRIES = 2_048


class ContextService:
    """Knowledge upserts, context synthesis, verdicts, trade memory and statistics."""

    def __init__(
        self,
        settings: Settings,
        redis: redis.Redis,
        keyspace: Keyspace | None = None,
        llm: LLMClient | None = None,
        evidence_store: Literal["redis", "memory"] = "redis",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._setup(compose(settings, redis, keyspace, llm, evidence_store, clock))

    @classmethod
    def from_components(cls, components: Components) -> ContextService:
        """The facade over parts built by :mod:`context_service.composition`."""
        service = cls.__new__(cls)
        service._setup(components)
        return service

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ContextService:
        """A service wired from settings: Redis (or embedded Redis) and, if enabled, the LLM."""
        return cls.from_components(compose_from_settings(settings))

    def _setup(self, components: Components) -> None:
        c = self.components = components
        self.settings = c.settings
        self.redis = c.redis
        self.keyspace = c.keyspace
        self.evidence_store = c.evidence_store
        self.clock = c.clock
        self.memory = c.memory
        self.alerts = c.alerts
        self.metrics = c.metrics
        self.usage = c.usage
        self.ledger = c.ledger
        self.replay = c.replay
        self.adjustments = c.adjustments
        self.providers = Providers(c, c.metrics)
        self.recorder = VerdictRecorder(c)
        resolve_chain(None, c.settings.verdict_provider)  # an unknown provider fails at start
        self._engines: dict[str, ContextEngine] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pushed: dict[tuple[str, str], tuple[str, float]] = {}
        self._synthesis_memo: OrderedDict[tuple, tuple[Any, float, Synthesis]] = OrderedDict()
        self._memo_lock = threading.Lock()

    def close(self) -> None:
        self.providers.close()

    # --- knowledge and context -----------------------------------------------------------
    def engine(self, bot_id: str) -> ContextEngine:
        """The context engine of ``bot_id`` (one per bot, cached)."""
        validate_bot_id(bot_id)
        with self._guard:
            engine = self._engines.get(bot_id)
            if engine is None:
                # memory mode: the engine's own store, which it keeps in step without re-reading
                store = self.memory.bot(bot_id).evidence if self.evidence_store == "redis" else None
                engine = ContextEngine(
                    store=store, model=self.settings.llm_model, shared=self.components.market
                )
                self._engines[bot_id] = engine
                self._locks[bot_id] = threading.Lock()
            return engine

    def _lock(self, bot_id: str) -> threading.Lock:
        self.engine(bot_id)
        return self._locks[bot_id]

    def upsert(self, bot_id: str, objects: Sequence[KnowledgeObject]) -> list[KnowledgeObject]:
        """Insert or merge knowledge objects (already validated) for one bot."""
        engine = self.engine(bot_id)
        with self._lock(bot_id):
            return engine.upsert_many(list(objects), now=self.clock())

    def upsert_market(self, objects: Sequence[KnowledgeObject]) -> list[KnowledgeObject]:
        """Insert or merge market-wide evidence (dated evidence only; stored once, read by
        every bot's synthesis as of its decision time). Nothing is written when one object is
        not dated evidence (:class:`~context_service.memory.market.MarketEvidenceError`)."""
        return self.components.market.upsert_many(objects, now=self.clock())

    def synthesize(
        self, bot_id: str, budget_tokens: int | None = None, as_of: datetime | None = None
    ) -> Synthesis:
        """The bot's working memory within ``budget_tokens`` as of ``as_of``; audited (kind
        ``synthesis``) with its manifest id and the ids it included."""
        engine = self.engine(bot_id)
        budget = budget_tokens or self.settings.context_budget_tokens
        now = self.clock()
        with self._lock(bot_id):
            synthesis = self._synthesize_memo(bot_id, engine, budget, as_of, now)
        summary = {**manifest_summary(synthesis.manifest), "as_of": iso(as_of)}
        self.memory.bot(bot_id).audit.append("synthesis", summary, at=as_of or now)
        return synthesis

    # --- verdicts ------------------------------------------------------------------------
    def live_providers(self) -> list[str]:
        """The chain for live requests: the full chain when the LLM is on."""
        llm_on = self.components.llm_client is not None
        return resolve_chain(None, live_start(self.settings.verdict_provider, llm_on))

    def provider(self, name: str) -> VerdictProvider:
        """The service's provider object called ``name`` (built on first use)."""
        return self.providers.get(name)

    def decide(self, request: VerdictRequest, providers: Sequence[str] | None = None) -> Verdict:
        """A verdict on a candidate signal; never raises for provider failures.

        The TA snapshot becomes market-data evidence, the context is synthesized as of
        ``request.as_of``, then the chain's provider objects are asked in turn until one
        answers. The verdict records its source and the reasons earlier providers were
        skipped, and goes to the audit trail.
        """
        started = time.perf_counter()
        chain = resolve_chain(providers, self.settings.verdict_provider)
        now = self.clock()
        bot_id = request.bot_id
        engine = self.engine(bot_id)
        budget = request.budget_tokens or self.settings.context_budget_tokens
        with self._lock(bot_id):
            self._push_snapshot(bot_id, engine, request, now)
            synthesis = self._synthesize_memo(bot_id, engine, budget, request.as_of, now)
        ask = Ask(request, synthesis, now, self.components.replay_params)
        outcome = self.providers.run(chain, ask)
        verdict = make_verdict(ask, outcome, (time.perf_counter() - started) * 1000)
        self.recorder.record(ask, verdict, outcome)
        return verdict

    def _synthesize_memo(
        self,
        bot_id: str,
        engine: ContextEngine,
        budget: int,
        as_of: datetime | None,
        now: datetime,
    ) -> Synthesis:
        """``engine.synthesize``, reused while the bot's evidence is unchanged.

        Only for the Redis stores, whose version counters (the bot's and the market's) move on
        every write (by any process).
        As-of syntheses depend on nothing else; live ones also on the clock (recency, expiry),
        so they are reused for at most ``LIVE_SYNTHESIS_MEMO_S``.
        """
        if self.evidence_store != "redis":
            return engine.synthesize(budget, as_of=as_of, now=now)
        # Two slots (the bot's tag and the market's): a pipeline, not MGET, so a cluster works.
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.keyspace.bot(bot_id).objects_version)
        pipe.get(self.keyspace.market().objects_version)
        version = tuple(pipe.execute())
        key = (bot_id, budget, as_of)
        with self._memo_lock:  # shared by every bot; the caller holds only its bot's lock
            hit = self._synthesis_memo.get(key)
        fresh = hit is not None and hit[0] == version
        if fresh and as_of is None:
            fresh = time.monotonic() - hit[1] < LIVE_SYNTHESIS_MEMO_S  # type: ignore[index]
        if fresh:
            return hit[2]  # type: ignore[index]
        synthesis = engine.synthesize(budget, as_of=as_of, now=now)
        with self._memo_lock:
            self._synthesis_memo[key] = (version, time.monotonic(), synthesis)
            self._synthesis_memo.move_to_end(key)
            while len(self._synthesis_memo) > SYNTHESIS_MEMO_ENTRIES:
                self._synthesis_memo.popitem(last=False)
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
        self._pushed[memo_key] = (fingerprint, time.monotonic())

    # --- trade memory --------------------------------------------------------------------
    def record_trade_event(self, event: TradeEvent) -> bool:
        """Store a trade event (idempotent); False when it was a duplicate.

        A newly closed trade refreshes the bot's insights as of its close time, into the bot's
        context (the memory lane): later verdicts see what trade memory concluded, and a
        backtest's verdicts see it only from the candle on which it became true.
        """
        bot = self.memory.bot(event.bot_id)
        added = bot.record_trade_event(event)
        if added and event.event == "trade_closed":
            found = bot.insights(event.time)
            if found:
                self.upsert(event.bot_id, found)
        return added

    def stats(self, bot_id: str, as_of: datetime | None = None) -> TradeStats:
        return self.memory.bot(bot_id).stats(as_of)

    def recent_verdicts(self, bot_id: str, limit: int = 50) -> list[Verdict]:
        """The bot's latest verdicts, newest first (unreadable entries skipped)."""
        return self.recorder.recent(bot_id, limit)
