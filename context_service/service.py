"""The context service facade: the operations both transports use.

The HTTP routes (``context_service.api``) and the strategy's in-process client in backtests call
the same :class:`ContextService`. It only orchestrates: its parts (Redis, memory, the cost
ledger, the replay cache, the verdict providers...) are built by
:mod:`context_service.composition`, one context engine per bot lives in
:class:`~context_service.contexts.BotContexts`, the provider chain runs in
:mod:`context_service.verdicts.runner` and a verdict is recorded by
:mod:`context_service.verdicts.record`. Routes call the methods below and nothing behind them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Literal

import redis

from context_service.adjustments import DEFAULT_LIMITS, Adjustment
from context_service.composition import Components, compose, compose_from_settings
from context_service.contexts import BotContexts
from context_service.contract import Verdict, VerdictRequest
from context_service.engine import ContextEngine, Synthesis
from context_service.fleet.lease import LeaseState
from context_service.keys import Keyspace
from context_service.llm.adjustments import AdjustmentsUnreadable
from context_service.llm.client import LLMClient
from context_service.memory import AuditEntry, TradeEvent, TradeStats
from context_service.models import KnowledgeObject, utcnow
from context_service.settings import Settings
from context_service.verdicts.chain import live_start, resolve_chain
from context_service.verdicts.provider import Ask, VerdictProvider
from context_service.verdicts.record import VerdictRecorder, iso, make_verdict, manifest_summary
from context_service.verdicts.runner import Providers
from context_service.verdicts.slots import DecisionSlots

log = logging.getLogger("context_service.adjustments")


class ContextService:
    """Knowledge upserts, context synthesis, verdicts, trade memory, statistics and the
    operator's views (usage, caps, alerts, leases)."""

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
        self.components = components
        self.settings = components.settings
        self.clock = components.clock
        self.contexts = BotContexts(components)
        self.providers = Providers(components, components.metrics)
        self.recorder = VerdictRecorder(components)
        self.slots = DecisionSlots(self.settings.decision_slots)
        resolve_chain(None, self.settings.verdict_provider)  # an unknown provider fails at start

    def close(self) -> None:
        self.providers.close()

    # --- knowledge and context -----------------------------------------------------------
    def engine(self, bot_id: str) -> ContextEngine:
        """The context engine of ``bot_id`` (one per bot, cached)."""
        return self.contexts.engine(bot_id)

    def upsert(self, bot_id: str, objects: Sequence[KnowledgeObject]) -> list[KnowledgeObject]:
        """Insert or merge knowledge objects (already validated) for one bot."""
        return self.contexts.upsert(bot_id, list(objects), self.clock())

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
        budget = budget_tokens or self.settings.context_budget_tokens
        now = self.clock()
        synthesis = self.contexts.synthesize(bot_id, budget, as_of, now)
        summary = {**manifest_summary(synthesis.manifest), "as_of": iso(as_of)}
        self.components.memory.bot(bot_id).audit.append("synthesis", summary, at=as_of or now)
        return synthesis

    # --- verdicts ------------------------------------------------------------------------
    def live_providers(self) -> list[str]:
        """The chain for live requests: the full chain when the LLM is on."""
        llm_on = self.components.llm_client is not None
        return resolve_chain(None, live_start(self.settings.verdict_provider, llm_on))

    def provider(self, name: str) -> VerdictProvider:
        """The service's provider object called ``name`` (built on first use)."""
        return self.providers.get(name)

    def decide_live(self, request: VerdictRequest) -> Verdict:
        """:meth:`decide` with the live chain (the HTTP route)."""
        return self.decide(request, self.live_providers())

    def decide_live_local(self, request: VerdictRequest) -> Verdict | None:
        """:meth:`decide_live` when a provider before the chain's first remote one answers
        (a replay hit, a chain without the LLM); None, with nothing recorded or counted, when
        the decision would wait on a remote provider: then :meth:`decide_live` from a worker
        thread. Takes no decision slot, so the event loop can call it: it never waits on
        another decision, only on Redis."""
        return self._decide(request, self.live_providers(), local_only=True)

    def decide(self, request: VerdictRequest, providers: Sequence[str] | None = None) -> Verdict:
        """A verdict on a candidate signal; never raises for provider failures.

        The TA snapshot becomes market-data evidence, the context is synthesized as of
        ``request.as_of``, then the chain's provider objects are asked in turn until one
        answers. The verdict records its source and the reasons earlier providers were
        skipped, and goes to the audit trail.
        """
        chain = resolve_chain(providers, self.settings.verdict_provider)
        verdict = self._decide(request, chain, local_only=False)
        assert verdict is not None  # only a local-only decision stops short
        return verdict

    def _decide(
        self, request: VerdictRequest, chain: list[str], local_only: bool
    ) -> Verdict | None:
        started = time.perf_counter()  # the wait for a slot is part of the decision's time
        with nullcontext() if local_only else self.slots.held():
            now = self.clock()
            budget = request.budget_tokens or self.settings.context_budget_tokens
            synthesis = self.contexts.for_request(request, budget, now)
            ask = Ask(request, synthesis, now, self.components.replay_params)
            if local_only:
                outcome = self.providers.run_local(chain, ask)
                if outcome is None:
                    return None
            else:
                outcome = self.providers.run(chain, ask, self.slots)
            verdict = make_verdict(ask, outcome, (time.perf_counter() - started) * 1000)
            verdict.adjustments = self._in_force(request, now)
            self.recorder.record(ask, verdict, outcome)  # the audit entry keeps them too
        return verdict

    def _in_force(self, request: VerdictRequest, now: datetime) -> list[Adjustment] | None:
        """The bot's adjustments in force as of the decision, within its limits (None when
        adjustments are off, or unreadable: then the bot applies none)."""
        if not self.settings.apply_adjustments:
            return None
        limits = request.adjustment_limits or DEFAULT_LIMITS
        try:
            found = self.components.adjustments.in_force(
                request.bot_id, request.as_of or now, limits
            )
        except AdjustmentsUnreadable as exc:
            log.warning("bot %s: no adjustments applied: %s", request.bot_id, exc)
            return None
        for adjustment, why in found.dropped:
            log.info("bot %s: adjustment %s not applied: %s", request.bot_id, adjustment, why)
        active = found.all()
        for adjustment in active:
            self.components.metrics.adjustments_in_force.labels(adjustment.parameter).inc()
        return active

    def recent_verdicts(self, bot_id: str, limit: int = 50) -> list[Verdict]:
        """The bot's latest verdicts, newest first (unreadable entries skipped)."""
        return self.recorder.recent(bot_id, limit)

    def adjustments(self, bot_id: str, at: datetime | None = None) -> dict[str, Any]:
        """LLM parameter suggestions (newest first, accepted or not and why) and the
        adjustments in force at ``at`` (default now; ``null`` when they cannot be read)."""
        moment = at or self.clock()
        active = self.adjustments_in_force(bot_id, moment)
        return {
            "enabled": self.settings.apply_adjustments,
            "as_of": moment.isoformat(),
            "in_force": None if active is None else [a.model_dump(mode="json") for a in active],
            "suggestions": self.components.adjustments.suggestions(bot_id),
        }

    def adjustments_in_force(self, bot_id: str, at: datetime) -> list[Adjustment] | None:
        """The adjustments stored as in force at ``at`` (each bot checks them against its own
        limits again); None when they cannot be read."""
        try:
            return self.components.adjustments.in_force(bot_id, at).all()
        except AdjustmentsUnreadable as exc:
            log.warning("bot %s: adjustments unreadable: %s", bot_id, exc)
            return None

    # --- trade memory --------------------------------------------------------------------
    def record_trade_event(self, event: TradeEvent) -> bool:
        """Store a trade event (idempotent); False when it was a duplicate.

        A newly closed trade refreshes the bot's insights as of its close time, into the bot's
        context (the memory lane): later verdicts see what trade memory concluded, and a
        backtest's verdicts see it only from the candle on which it became true.
        """
        bot = self.components.memory.bot(event.bot_id)
        added = bot.record_trade_event(event)
        if added and event.event == "trade_closed":
            found = bot.insights(event.time)
            if found:
                self.upsert(event.bot_id, found)
        return added

    def stats(self, bot_id: str, as_of: datetime | None = None) -> TradeStats:
        return self.components.memory.bot(bot_id).stats(as_of)

    def audit(
        self,
        bot_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The bot's audit entries (verdicts, syntheses), oldest first."""
        return self.components.memory.bot(bot_id).audit.query(start, end, kind, limit)

    # --- operator views ------------------------------------------------------------------
    def usage_report(self, at: datetime | None = None, bot_id: str | None = None) -> dict:
        """LLM usage for the day and month of ``at`` with every cost cap's spent and
        reserved amounts, global and per bot (or of one bot)."""
        c = self.components
        moment = at or self.clock()
        report = c.usage.report(moment, bot_id)
        bots = [bot_id] if bot_id else sorted(report["bots"])
        report["caps"] = c.ledger.status(None, moment)
        for bot in bots:
            report["bots"].setdefault(bot, {})["cap"] = c.ledger.bot_status(bot, moment)
        return report

    def bot_cap(self, bot_id: str, at: datetime | None = None) -> dict[str, Any]:
        """The bot's daily LLM cap with what is spent and reserved (also for idle bots)."""
        return self.components.ledger.bot_status(bot_id, at or self.clock())

    def reopen_caps(
        self, bot_id: str | None, at: datetime | None, caps: Sequence[str]
    ) -> dict[str, Any]:
        """Reopen cost caps an over-reporting endpoint closed (operator); the caps after it."""
        ledger, moment = self.components.ledger, at or self.clock()
        reopened = ledger.reopen(bot_id, moment, caps)
        return {"reopened": reopened, "caps": ledger.status(bot_id, moment)}

    def active_alerts(self) -> list[dict[str, Any]]:
        """Active operator alerts (cost caps, open breakers, bots down...), oldest first."""
        return [alert.model_dump(mode="json") for alert in self.components.alerts.active()]

    def ready(self) -> str | None:
        """None when Redis answers a PING, else the error's type name."""
        try:
            self.components.redis.ping()
        except redis.RedisError as exc:
            return type(exc).__name__
        return None

    def metrics_text(self) -> bytes:
        """The Prometheus exposition of the service's metrics."""
        return self.components.metrics.exposition()

    # --- sub-account leases --------------------------------------------------------------
    def acquire_lease(self, account: str, holder: str, ttl_s: float) -> LeaseState:
        """Take or renew ``account``'s single-writer lease for ``holder``."""
        return self.components.leases.acquire(account, holder, ttl_s)

    def lease(self, account: str) -> LeaseState:
        return self.components.leases.current(account)

    def release_lease(self, account: str, holder: str) -> bool:
        return self.components.leases.release(account, holder)
