"""The verdict-provider plug-in surface: one class with one method, :meth:`VerdictProvider.decide`.

A provider receives an :class:`Ask` (the bot's request with the context synthesized for it) and
either returns one :class:`Decision` or raises :class:`ProviderSkipped` with a reason; the chain
then asks the next provider, and ``hold`` always answers last. Providers are registered by name
and built from the service's components, so adding one is one module::

    from context_service.verdicts.models import Action
    from context_service.verdicts.provider import Ask, Decision, VerdictProvider, register


    @register
    class ContrarianProvider(VerdictProvider):
        name = "contrarian"
        summary = "buys only when RSI is deeply oversold"

        def decide(self, ask: Ask) -> Decision:
            if ask.request.snapshot.rsi < 25:
                return Decision(Action.buy, 0.7, "RSI deeply oversold")
            return Decision(Action.hold, 0.6, "RSI not oversold")

``CTX_VERDICT_PROVIDER=contrarian`` (or ``--provider contrarian``) then starts the chain with it;
the chain goes on with the provider's ``fallback`` (``hold`` unless it names another), so the
built-in chain is ``replay -> llm -> rules -> hold``. A provider that needs the service's parts
(settings, Redis, the cost ledger...) overrides :meth:`VerdictProvider.build`, which receives
the :class:`~context_service.composition.Components`. The built-ins (``replay``, ``llm``,
``rules``, ``hold``) are peers of any other provider: they live in
``context_service.verdicts.providers``, one module each. A provider living outside this package
is found when its module is imported, or through the ``context_service.verdict_providers``
entry-point group of an installed distribution.

Errors: a provider signals "no verdict from me" with :class:`ProviderSkipped` (recorded on the
verdict as ``<name>:<reason>``); any other exception is a bug, and the service turns it into a
skip with reason ``error`` so a broken provider can never block a decision.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from context_service.contract import PROVIDER_NAME_PATTERN, Decision, VerdictRequest

if TYPE_CHECKING:
    from context_service.engine import Synthesis

__all__ = [
    "PROVIDER_NAME_PATTERN",
    "Ask",
    "Decision",
    "ProviderSkipped",
    "SkipReason",
    "VerdictProvider",
    "deterministic_verdict_id",
    "provider_class",
    "register",
    "registered_providers",
    "unregister",
]

ENTRY_POINT_GROUP = "context_service.verdict_providers"


class SkipReason(StrEnum):
    """The skip reasons the chain itself and the built-ins use (a provider may use its own
    short code too; the LLM's come from its client and guardrails)."""

    miss = "miss"  # replay: nothing recorded for this exact question
    disabled = "disabled"  # the provider's backend is not configured
    redis_error = "redis_error"  # Redis failed while the provider worked
    error = "error"  # the provider raised something else: a bug, never a blocked decision


class ProviderSkipped(Exception):
    """A provider gave no verdict; the chain moves on and records ``reason``.

    ``reason`` is a short code (``miss``, ``disabled``, ``budget_exhausted``...), never parsed
    from text; ``detail`` is for logs; ``audit`` (e.g. the prompt of a failed LLM call) goes to
    the audit trail with the verdict that was finally given.
    """

    def __init__(self, reason: str, detail: str = "", audit: dict[str, Any] | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.audit = audit
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass
class Ask:
    """One verdict request with the context synthesized for it, as every provider sees it."""

    request: VerdictRequest
    synthesis: Synthesis
    now: datetime
    replay_params: dict[str, Any]

    @cached_property
    def replay_key(self) -> str:
        """Hash of everything that shaped an answer; computed only when a provider reads it."""
        from context_service.verdicts.replay import replay_key

        return replay_key(self.replay_params, self.synthesis.manifest.content_hash, self.request)

    @property
    def bot_id(self) -> str:
        return self.request.bot_id

    @property
    def known_evidence_ids(self) -> set[str]:
        """Ids of the objects the synthesized context included (what a verdict may cite)."""
        return set(self.synthesis.manifest.included_ids())


class VerdictProvider:
    """Base class of every verdict provider. Subclasses set the class attributes and implement
    :meth:`decide`; ``name`` is what chains and ``--provider`` use."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    needs: ClassVar[str] = "nothing"
    spends_money: ClassVar[bool] = False
    # The provider asked next when this one is skipped; ``None`` ends the chain (only ``hold``,
    # which always answers, should end it).
    fallback: ClassVar[str | None] = "hold"
    # Verdicts of a chain holding this provider are counted in the LLM usage report, with the
    # skip reasons of the providers that spend money.
    metered: ClassVar[bool] = False
    # Its decide waits on a service over the network (an LLM: seconds): the chain gives the
    # decision's slot back meanwhile (context_service.verdicts.slots).
    remote: ClassVar[bool] = False

    @classmethod
    def build(cls, components: Any) -> VerdictProvider:
        """The provider for a service; ``components`` are the service's parts (settings, Redis,
        keyspace, ledger...). The default takes none of them."""
        return cls()

    def decide(self, ask: Ask) -> Decision:
        """One decision for ``ask``, or raise :class:`ProviderSkipped`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what :meth:`build` opened (HTTP clients...)."""


_REGISTRY: dict[str, type[VerdictProvider]] = {}


def register(cls: type[VerdictProvider]) -> type[VerdictProvider]:
    """Class decorator: make ``cls`` available by its ``name``. Re-registering a name replaces
    the earlier class (tests and plug-ins may override a built-in on purpose)."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not re.fullmatch(PROVIDER_NAME_PATTERN, name):
        raise ValueError(f"provider name must match {PROVIDER_NAME_PATTERN}: {name!r}")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a provider (tests that registered their own)."""
    _REGISTRY.pop(name, None)


def provider_class(name: str) -> type[VerdictProvider]:
    """The registered class called ``name``; ``ValueError`` naming the choices otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        choices = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown verdict provider {name!r}; registered: {choices}") from None


def registered_providers() -> Iterator[type[VerdictProvider]]:
    """Every registered provider class, by name."""
    _load_builtins()
    for name in sorted(_REGISTRY):
        yield _REGISTRY[name]


def deterministic_verdict_id(*parts: object) -> str:
    """A verdict id that is the same whenever the same parts are (idempotent re-asks)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return f"v-{digest[:24]}"


_loaded = False


def _load_builtins() -> None:
    """Import the built-in providers' package and the installed plug-ins once (each module
    registers itself when imported)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    from importlib.metadata import entry_points

    importlib.import_module("context_service.verdicts.providers")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()
