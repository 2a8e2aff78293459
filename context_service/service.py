"""The context service facade: one object that both transports use.

The HTTP routes (``context_service.api``) and the strategy's in-process client in backtests call
the same :class:`ContextService`. It owns one context engine per bot, the verdict provider chain
(replay -> llm -> rules -> hold), the LLM guardrails (cost ledger, rate limits, breaker), the
replay cache, usage counters, alerts and the audit trail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

import redis

from context_service.alerts import AlertSink
from context_service.engine import ContextEngine, Manifest, Synthesis
from context_service.keys import Keyspace, validate_bot_id
from context_service.llm.breaker import CircuitBreaker
from context_service.llm.client import LLMClient
from context_service.llm.ledger import CostLedger
from context_service.llm.provider import LLMFailure, LLMVerdictProvider
from context_service.llm.ratelimit import RateLimiter
from context_service.llm.tools import AdjustmentArgs
from context_service.llm.usage import UsageRecorder
from context_service.memory import Memory, TradeEvent, TradeStats, connect
from context_service.models import KnowledgeObject, utcnow
from context_service.settings import Settings, get_settings
from context_service.verdicts.adjustments import AdjustmentBook
from context_service.verdicts.chain import ProviderSkipped, resolve_chain
from context_service.verdicts.market_data import snapshot_evidence, snapshot_evidence_id
from context_service.verdicts.metrics import ServiceMetrics
from context_service.verdicts.models import Action, Verdict, VerdictRequest, VerdictSource
from context_service.verdicts.replay import ReplayCache, replay_key, settings_replay_params
from context_service.verdicts.rules import RulesPolicy

log = logging.getLogger("context_service.service")

RECENT_VERDICTS = 200
# How long an identical snapshot is trusted to still be in the store without re-upserting it.
SNAPSHOT_MEMO_S = 60.0
# Reuse of an unchanged bot's synthesis (see ContextService._synthesize_memo).
LIVE_SYNTHESIS_MEMO_S = 1.0
SYNTHESIS_MEMO_ENTRIES = 2_048
DEFAULT_KEYSPACE = Keyspace()


@dataclass(slots=True)
class _Decision:
    """What one provider produced, before it becomes a :class:`Verdict`."""

    source: VerdictSource
    action: Action
    confidence: float
    rationale: str
    evidence_ids: list[str]
    verdict_id: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    audit: dict[str, Any] | None = None


@dataclass
class _Ask:
    """One verdict request with its synthesized context."""

    request: VerdictRequest
    synthesis: Synthesis
    now: datetime
    replay_params: dict[str, Any]
    llm_audit: dict[str, Any] | None = None  # prompt and error of a failed LLM attempt

    @cached_property
    def replay_key(self) -> str:
        """Hashed only when a provider needs it (replay, llm): not on the rules-only path."""
        return replay_key(self.replay_params, self.synthesis.manifest.content_hash, self.request)


def _manifest_summary(manifest: Manifest) -> dict[str, Any]:
    """What the audit trail keeps of a synthesis: its identity, size and included ids."""
    return {
        "manifest_id": manifest.manifest_id,
        "content_hash": manifest.content_hash,
        "total_tokens": manifest.total_tokens,
        "budget": manifest.budget,
        "included": manifest.included_ids(),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _deterministic_id(*parts: object) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return f"v-{digest[:24]}"


class ContextService:
    """Knowledge upserts, context synthesis, verdicts, trade memory and statistics."""

    def __init__(
        self,
        settings: Settings,
        redis: redis.Redis,
        keyspace: Keyspace = DEFAULT_KEYSPACE,
        llm: LLMClient | None = None,
        evidence_store: Literal["redis", "memory"] = "redis",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if evidence_store not in ("redis", "memory"):
            raise ValueError("evidence_store must be 'redis' or 'memory'")
        self.settings = settings
        self.redis = redis
        self.keyspace = keyspace
        self.evidence_store = evidence_store
        self.clock = clock
        self.memory = Memory(redis, keyspace, settings)
        self.alerts = AlertSink(settings, redis, keyspace)
        self.metrics = ServiceMetrics()
        self.usage = UsageRecorder(redis, keyspace)
        self.ledger = CostLedger(redis, keyspace, settings, self.alerts)
        self.replay = ReplayCache(redis, keyspace)
        self.adjustments = AdjustmentBook(redis, keyspace, settings)
        self.rules = RulesPolicy()
        self._replay_params = settings_replay_params(settings)
        self.llm: LLMVerdictProvider | None = None
        if llm is not None:
            self.llm = LLMVerdictProvider(
                settings,
                llm,
                self.ledger,
                RateLimiter(
                    redis, keyspace, settings.rate_bot_per_minute, settings.rate_global_per_minute
                ),
                CircuitBreaker(
                    redis,
                    keyspace,
                    settings.breaker_failures,
                    settings.breaker_open_seconds,
                    self.alerts,
                ),
                self.usage,
            )
        self._engines: dict[str, ContextEngine] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pushed: dict[tuple[str, str], tuple[str, float]] = {}
        self._synthesis_memo: OrderedDict[tuple, tuple[Any, float, Synthesis]] = OrderedDict()
        self._memo_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ContextService:
        """A service wired from settings: Redis (or embedded Redis) and, if enabled, the LLM."""
        settings = settings or get_settings()
        llm = LLMClient.from_settings(settings) if settings.llm_enabled else None
        return cls(settings, connect(settings), llm=llm)

    def close(self) -> None:
        if self.llm is not None:
            self.llm.client.close()

    # --- knowledge and context -----------------------------------------------------------
    def engine(self, bot_id: str) -> ContextEngine:
        """The context engine of ``bot_id`` (one per bot, cached)."""
        validate_bot_id(bot_id)
        with self._guard:
            engine = self._engines.get(bot_id)
            if engine is None:
                # memory mode: the engine's own store, which it keeps in step without re-reading
                store = self.memory.bot(bot_id).evidence if self.evidence_store == "redis" else None
                engine = ContextEngine(store=store, model=self.settings.llm_model)
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
        summary = {**_manifest_summary(synthesis.manifest), "as_of": _iso(as_of)}
        self.memory.bot(bot_id).audit.append("synthesis", summary, at=as_of or now)
        return synthesis

    # --- verdicts ------------------------------------------------------------------------
    def live_providers(self) -> list[str]:
        """The chain for live requests: the full chain when the LLM is on."""
        start = "replay" if self.llm is not None else self.settings.verdict_provider
        return resolve_chain(None, start)

    def decide(self, request: VerdictRequest, providers: Sequence[str] | None = None) -> Verdict:
        """A verdict on a candidate signal; never raises for provider failures.

        The TA snapshot becomes market-data evidence, the context is synthesized as of
        ``request.as_of``, then the chain runs until a provider answers. The verdict records
        its source and the reasons earlier providers were skipped, and goes to the audit trail.
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
        params = self.llm.replay_params() if self.llm else self._replay_params
        ask = _Ask(request, synthesis, now, params)
        reasons: list[str] = []
        decision: _Decision | None = None
        for name in chain:
            try:
                try:
                    decision = getattr(self, f"_provide_{name}")(ask)
                    break
                except redis.RedisError as exc:
                    # Replay and LLM guardrails need Redis; without it no LLM money is spent.
                    raise ProviderSkipped("redis_error", f"{type(exc).__name__}: {exc}") from None
            except ProviderSkipped as skipped:
                reasons.append(f"{name}:{skipped.reason}")
                self.metrics.fallbacks.labels(name, skipped.reason).inc()
                if skipped.detail:
                    log.info(
                        json.dumps(
                            {
                                "event": "provider_skipped",
                                "bot_id": bot_id,
                                "provider": name,
                                "reason": skipped.reason,
                                "detail": skipped.detail,
                            }
                        )
                    )
        assert decision is not None  # hold always answers
        latency_ms = (time.perf_counter() - started) * 1000
        verdict = self._verdict(ask, decision, reasons, latency_ms)
        self._record(ask, verdict, decision, chain, reasons)
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

        Only for the Redis store, whose version counter moves on every write (by any process).
        As-of syntheses depend on nothing else; live ones also on the clock (recency, expiry),
        so they are reused for at most ``LIVE_SYNTHESIS_MEMO_S``.
        """
        if self.evidence_store != "redis":
            return engine.synthesize(budget, as_of=as_of, now=now)
        version = self.redis.get(self.keyspace.bot(bot_id).objects_version)
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

    def _verdict(self, ask: _Ask, d: _Decision, reasons: list[str], latency_ms: float) -> Verdict:
        manifest = ask.synthesis.manifest
        request = ask.request
        verdict_id = d.verdict_id or _deterministic_id(
            request.bot_id,
            request.pair,
            request.candle_time.isoformat(),
            request.candidate,
            manifest.content_hash,
            d.source.value,
            d.action.value,
        )
        return Verdict(
            verdict_id=verdict_id,
            bot_id=request.bot_id,
            pair=request.pair,
            candle_time=request.candle_time,
            candidate=request.candidate,
            action=d.action,
            confidence=d.confidence,
            rationale=d.rationale[:2000],
            evidence_ids=d.evidence_ids,
            source=d.source,
            fallback_reason="; ".join(reasons) or None,
            context_hash=manifest.content_hash,
            manifest_id=manifest.manifest_id,
            context_tokens=manifest.total_tokens,
            context_encoding=manifest.encoding,
            model=d.model,
            prompt_tokens=d.prompt_tokens,
            completion_tokens=d.completion_tokens,
            cost_usd=d.cost_usd,
            latency_ms=round(latency_ms, 3),
            created_at=ask.now,
        )

    def _provide_replay(self, ask: _Ask) -> _Decision:
        cached = self.replay.get(ask.request.bot_id, ask.replay_key)
        if cached is None:
            raise ProviderSkipped("miss")
        return _Decision(
            source=VerdictSource.replay,
            action=cached.action,
            confidence=cached.confidence,
            rationale=cached.rationale,
            evidence_ids=list(cached.evidence_ids),
            verdict_id=cached.verdict_id,
            model=cached.model,
            audit={"replay_key": ask.replay_key, "recorded_at": cached.created_at.isoformat()},
        )

    def _provide_llm(self, ask: _Ask) -> _Decision:
        if self.llm is None:
            raise ProviderSkipped("disabled")
        known = set(ask.synthesis.manifest.included_ids())
        try:
            result = self.llm.decide(ask.request, ask.synthesis.text, known, ask.now)
        except LLMFailure as failure:
            ask.llm_audit = failure.audit
            raise ProviderSkipped(failure.reason, str(failure)) from None
        bot = ask.request.bot_id
        self.metrics.llm_cost.labels(bot).inc(result.cost_micros / 1e6)
        self.metrics.llm_tokens.labels(bot, "prompt").inc(result.prompt_tokens)
        self.metrics.llm_tokens.labels(bot, "completion").inc(result.completion_tokens)
        return _Decision(
            source=VerdictSource.llm,
            action=result.action,
            confidence=result.confidence,
            rationale=result.rationale,
            evidence_ids=result.evidence_ids,
            verdict_id=_deterministic_id("llm", ask.replay_key, ask.now.isoformat()),
            model=result.model,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_micros / 1e6,
            audit={**result.audit, "adjustments": [a.model_dump() for a in result.adjustments]},
        )

    def _provide_rules(self, ask: _Ask) -> _Decision:
        rule = self.rules.decide(ask.request)
        return _Decision(
            source=VerdictSource.rules,
            action=rule.action,
            confidence=rule.confidence,
            rationale=rule.rationale,
            evidence_ids=[snapshot_evidence_id(ask.request.snapshot)],
        )

    def _provide_hold(self, ask: _Ask) -> _Decision:
        return _Decision(
            source=VerdictSource.hold,
            action=Action.hold,
            confidence=0.0,
            rationale="no provider gave a verdict; holding",
            evidence_ids=[],
        )

    def _record(
        self,
        ask: _Ask,
        verdict: Verdict,
        decision: _Decision,
        chain: list[str],
        reasons: list[str],
    ) -> None:
        """Audit trail, replay cache, recent verdicts, usage counters and metrics."""
        bot_id = verdict.bot_id
        manifest = ask.synthesis.manifest
        audit: dict[str, Any] = {
            "verdict": verdict.model_dump(mode="json"),
            "chain": chain,
            "fallbacks": reasons,
            "as_of": _iso(ask.request.as_of),
            # What the bot saw, whatever the provider: live evidence may expire before anyone
            # asks.
            "manifest": _manifest_summary(manifest),
        }
        llm_audit = decision.audit if decision.source is VerdictSource.llm else ask.llm_audit
        if llm_audit:
            audit["llm"] = llm_audit
        if decision.source is VerdictSource.replay:
            audit["replay"] = decision.audit
        bot = self.memory.bot(bot_id)
        # Filed at the decision's point in time: a backtest's audit answers "what did the bot see
        # at 14:05 on 3 May" for the candle, not for the moment the backtest ran.
        bot.audit.append("verdict", audit, at=ask.request.as_of or ask.now)
        keys = self.keyspace.bot(bot_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(keys.last_verdicts, verdict.model_dump_json())
        pipe.ltrim(keys.last_verdicts, 0, RECENT_VERDICTS - 1)
        if "llm" in chain or "replay" in chain:
            llm_reasons = [r.split(":", 1)[1] for r in reasons if r.startswith("llm:")]
            self.usage.record_verdict(bot_id, ask.now, verdict.source.value, llm_reasons, pipe)
        pipe.execute()
        if decision.source is VerdictSource.llm:
            self.replay.put(bot_id, ask.replay_key, verdict)
            if verdict.cost_usd > 0:
                bot.record_llm_cost(ask.now, verdict.cost_usd, verdict.verdict_id)
            for adjustment in (decision.audit or {}).get("adjustments", []):
                self.adjustments.record(
                    bot_id, verdict.verdict_id, AdjustmentArgs.model_validate(adjustment), ask.now
                )
        self.metrics.verdicts.labels(verdict.source.value, verdict.action.value).inc()
        self.metrics.verdict_latency.labels(verdict.source.value).observe(verdict.latency_ms / 1000)

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
        """The bot's latest verdicts, newest first; an unreadable entry (written by another
        version) is skipped, never allowed to hide the others."""
        raw = self.redis.lrange(self.keyspace.bot(bot_id).last_verdicts, 0, limit - 1)
        verdicts = []
        for item in raw:
            try:
                verdicts.append(Verdict.model_validate_json(item))
            except ValueError:
                log.warning("skipping an unreadable recent verdict of bot %s", bot_id)
        return verdicts
