"""The evidence-source plug-in surface: one class with one method, :meth:`EvidenceSource.poll`.

A source is asked for what is new since a cursor it gave out earlier and answers with validated
evidence plus the next cursor. Each item carries when it was published and when we first saw it;
its evidence's ``observed_at`` is when a decision may see it (the later of the two live, the
publish time plus an availability lag for archives), so nothing reaches a decision early::

    from context_service.evidence.source import EvidenceSource, Poll, SourcedItem, register


    @register
    class ExchangeStatusSource(EvidenceSource):
        name = "exchange-status"
        summary = "maintenance notices of the exchange"

        def poll(self, cursor: str | None, now: datetime) -> Poll:
            items = [...]  # fetch, then build Evidence objects (validated on construction)
            return Poll(items=items, cursor=newest_id)

Sources with ``scope = "market"`` write into the market-wide store, which every bot's synthesis
reads as of its decision time (stored once, never copied per bot); ``scope = "bot"`` sources
write into one bot's own evidence. A source that needs settings or an HTTP client overrides
:meth:`EvidenceSource.build`.

Errors: :class:`SourceError` says a poll failed (unreachable, malformed answer...) with a short
reason; the poller records it, backs off and keeps every item it accepted before. Any other
exception is treated the same way, so one broken source never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from context_service.models import Evidence, as_utc

SOURCE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
Scope = Literal["market", "bot"]


class SourceError(Exception):
    """A poll that failed; ``reason`` is a short code (``timeout``, ``http_503``, ``malformed``,
    ``too_large``...) shown in the feed status."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class SourcedItem:
    """One piece of evidence from a source, with its two clocks."""

    evidence: Evidence
    published_at: datetime
    first_seen_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "published_at", as_utc(self.published_at))
        object.__setattr__(self, "first_seen_at", as_utc(self.first_seen_at))
        if self.evidence.observed_at is None:
            raise ValueError(f"evidence {self.evidence.id!r} from a source must be dated")


@dataclass(frozen=True, slots=True)
class Poll:
    """What one poll returned: new items and the cursor to pass next time (opaque to the
    poller; ``None`` means start over)."""

    items: list[SourcedItem] = field(default_factory=list)
    cursor: str | None = None


class EvidenceSource:
    """Base class of every evidence source. Subclasses set the class attributes and implement
    :meth:`poll`."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    needs: ClassVar[str] = "nothing"
    scope: ClassVar[Scope] = "market"

    @classmethod
    def build(cls, components: Any) -> EvidenceSource:
        """The source for a service; ``components`` are the service's parts (settings, HTTP
        client...). The default takes none of them."""
        return cls()

    def poll(self, cursor: str | None, now: datetime) -> Poll:
        """Items new since ``cursor`` (``None``: whatever the source has now); raise
        :class:`SourceError` when the poll failed."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what :meth:`build` opened."""


_REGISTRY: dict[str, type[EvidenceSource]] = {}


def register(cls: type[EvidenceSource]) -> type[EvidenceSource]:
    """Class decorator: make ``cls`` available by its ``name`` (a later registration of the
    same name replaces the earlier one)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not re.fullmatch(SOURCE_NAME_PATTERN, name):
        raise ValueError(f"source name must match {SOURCE_NAME_PATTERN}: {name!r}")
    if getattr(cls, "scope", None) not in ("market", "bot"):
        raise ValueError(f"source {name!r}: scope must be 'market' or 'bot'")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a source (tests that registered their own)."""
    _REGISTRY.pop(name, None)


def source_class(name: str) -> type[EvidenceSource]:
    """The registered class called ``name``; ``ValueError`` naming the choices otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        choices = ", ".join(sorted(_REGISTRY)) or "none"
        raise ValueError(f"unknown evidence source {name!r}; registered: {choices}") from None


def registered_sources() -> Iterator[type[EvidenceSource]]:
    """Every registered source class, by name."""
    _load_builtins()
    for name in sorted(_REGISTRY):
        yield _REGISTRY[name]


def _load_builtins() -> None:
    """Import the built-in sources' package once, if there is one (each module registers
    itself)."""
    import importlib.util

    if importlib.util.find_spec("context_service.evidence.sources") is not None:
        importlib.import_module("context_service.evidence.sources")
