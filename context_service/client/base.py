"""The strategy's view of the context engine, whatever the transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from context_service.contract import Verdict, VerdictRequest

if TYPE_CHECKING:
    from context_service.memory.models import TradeEvent
    from context_service.models import KnowledgeObject


class ContextUnavailable(Exception):
    """No valid answer from the engine: down, too slow, refused, or malformed."""


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """Whether this bot holds the single-writer lease of its exchange sub-account."""

    held: bool
    holder: str | None
    reason: str


class ContextClient(Protocol):
    def decide(self, request: VerdictRequest) -> Verdict:
        """A verdict for the request; raises :class:`ContextUnavailable` on any failure."""
        ...

    # Optional: ``ask(request) -> Verdict | None`` (None while the sidecar is still working on
    # it); the HTTP client has it, the in-process client answers synchronously with decide.

    def record_trade_event(self, event: TradeEvent) -> bool:
        """Write one trade event to memory; False (never an exception) when it failed."""
        ...

    def upsert_knowledge(self, bot_id: str, objects: list[KnowledgeObject]) -> int:
        """Upsert knowledge objects into the bot's context; raises :class:`ContextUnavailable`."""
        ...

    def acquire_lease(self, account: str, holder: str, ttl_s: int = 90) -> LeaseStatus:
        """Take or renew the sub-account lease; ``held=False`` on refusal or failure."""
        ...

    def close(self) -> None: ...
