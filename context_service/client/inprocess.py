"""The engine called in-process (backtests, hyperopt): same verdicts, no network."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from context_service.client.base import ContextUnavailable, LeaseStatus
from context_service.contract import Verdict, VerdictRequest

if TYPE_CHECKING:
    from context_service.memory.models import TradeEvent
    from context_service.models import KnowledgeObject

logger = logging.getLogger(__name__)


class Engine(Protocol):
    """What :class:`context_service.service.ContextService` offers the strategy."""

    def decide(self, request: VerdictRequest, providers=None) -> Verdict: ...

    def record_trade_event(self, event: TradeEvent) -> bool: ...

    def upsert(self, bot_id: str, objects: list[KnowledgeObject]) -> list[KnowledgeObject]: ...


class InProcessContextClient:
    """Wraps an engine so that any failure becomes :class:`ContextUnavailable`."""

    def __init__(self, engine: Engine, *, record_memory: bool = True) -> None:
        self.engine = engine
        self.record_memory = record_memory

    def decide(self, request: VerdictRequest) -> Verdict:
        try:
            verdict = self.engine.decide(request)
        except Exception as exc:  # the engine's failure must never become an entry
            raise ContextUnavailable(f"engine failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(verdict, Verdict):
            raise ContextUnavailable(f"engine returned {type(verdict).__name__}, not a Verdict")
        return verdict

    def record_trade_event(self, event: TradeEvent) -> bool:
        if not self.record_memory:
            return True
        try:
            return bool(self.engine.record_trade_event(event))
        except Exception as exc:
            logger.warning("trade event %s not recorded: %s", event.event, exc)
            return False

    def upsert_knowledge(self, bot_id: str, objects: list[KnowledgeObject]) -> int:
        try:
            return len(self.engine.upsert(bot_id, objects))
        except Exception as exc:
            raise ContextUnavailable(f"engine failed: {type(exc).__name__}: {exc}") from exc

    def acquire_lease(self, account: str, holder: str, ttl_s: int = 90) -> LeaseStatus:
        # Backtests place no orders on any account: there is nothing to lease.
        return LeaseStatus(True, holder, "in-process run: no exchange account involved")

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()
