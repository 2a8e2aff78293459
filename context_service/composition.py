"""Composition: settings -> Redis, stores, guardrails, engines' parts, providers.

Everything the service and the plug-ins are built from is made here, once, so the facade
(:class:`~context_service.service.ContextService`) only orchestrates. A verdict provider's or
evidence source's ``build(components)`` receives the :class:`Components` and takes what it
needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import redis

from context_service.alerts import AlertSink
from context_service.engine import InMemoryStore
from context_service.fleet.lease import LeaseManager
from context_service.keys import Keyspace
from context_service.llm.adjustments import AdjustmentBook
from context_service.llm.client import LLMClient
from context_service.llm.ledger import CostLedger
from context_service.llm.params import replay_params, settings_replay_params
from context_service.llm.usage import UsageRecorder
from context_service.memory import Memory, connect
from context_service.memory.market import MarketEvidence
from context_service.models import utcnow
from context_service.settings import Settings, get_settings
from context_service.verdicts.metrics import ServiceMetrics
from context_service.verdicts.replay import ReplayCache

EvidenceStoreKind = Literal["redis", "memory"]


@dataclass(frozen=True)
class Components:
    """The parts of one service. ``evidence_store`` is ``redis`` for the sidecar and
    ``memory`` for in-process backtests (each engine keeps its own store in step; the market
    evidence lives in the process then);
    ``llm_client`` is ``None`` when the LLM is off; ``replay_params`` are the answering
    model's call parameters, part of every replay key."""

    settings: Settings
    redis: redis.Redis
    keyspace: Keyspace
    clock: Callable[[], datetime]
    evidence_store: EvidenceStoreKind
    memory: Memory
    market: MarketEvidence
    alerts: AlertSink
    metrics: ServiceMetrics
    usage: UsageRecorder
    ledger: CostLedger
    replay: ReplayCache
    adjustments: AdjustmentBook
    leases: LeaseManager
    llm_client: LLMClient | None

    @property
    def replay_params(self) -> dict[str, Any]:
        """The answering model's call parameters (the configured model's without a client)."""
        if self.llm_client is not None:
            return replay_params(**self.llm_client.sampling)
        return settings_replay_params(self.settings)


def compose(
    settings: Settings,
    redis_client: redis.Redis,
    keyspace: Keyspace | None = None,
    llm: LLMClient | None = None,
    evidence_store: EvidenceStoreKind = "redis",
    clock: Callable[[], datetime] = utcnow,
) -> Components:
    """The components of a service on ``redis_client``."""
    if evidence_store not in ("redis", "memory"):
        raise ValueError("evidence_store must be 'redis' or 'memory'")
    keyspace = keyspace or Keyspace()
    alerts = AlertSink(settings, redis_client, keyspace)
    memory = Memory(redis_client, keyspace, settings)
    return Components(
        settings=settings,
        redis=redis_client,
        keyspace=keyspace,
        clock=clock,
        evidence_store=evidence_store,
        memory=memory,
        market=memory.market if evidence_store == "redis" else MarketEvidence(InMemoryStore()),
        alerts=alerts,
        metrics=ServiceMetrics(),
        usage=UsageRecorder(redis_client, keyspace),
        ledger=CostLedger(redis_client, keyspace, settings, alerts),
        replay=ReplayCache(redis_client, keyspace),
        adjustments=AdjustmentBook(redis_client, keyspace, settings),
        leases=LeaseManager(redis_client, keyspace),
        llm_client=llm,
    )


def compose_from_settings(settings: Settings | None = None) -> Components:
    """Components wired from settings: Redis (or embedded Redis) and, if enabled, the LLM."""
    settings = settings or get_settings()
    llm = LLMClient.from_settings(settings) if settings.llm_enabled else None
    return compose(settings, connect(settings), llm=llm)
