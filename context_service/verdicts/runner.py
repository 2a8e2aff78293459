"""Running a chain of provider objects over one :class:`~context_service.verdicts.provider.Ask`.

The service's providers are built from the registry on first use (``build(components)``) and
asked in chain order until one answers. A skip is recorded as a :class:`Fallback` with its
reason code; a Redis failure inside a provider becomes ``redis_error`` (replay and the LLM's
guardrails need Redis, and without it no LLM money is spent); any other exception from a
provider becomes ``error`` and is logged with its traceback, so a broken plug-in never blocks a
decision. ``hold`` always answers.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import redis

from context_service.contract import Decision
from context_service.verdicts.metrics import ServiceMetrics
from context_service.verdicts.provider import (
    Ask,
    ProviderSkipped,
    SkipReason,
    VerdictProvider,
    provider_class,
)
from context_service.verdicts.slots import DecisionSlots

log = logging.getLogger("context_service.verdicts")


@dataclass(frozen=True, slots=True)
class Fallback:
    """One provider skipped on the way to the verdict."""

    provider: str
    reason: str
    spends_money: bool

    def __str__(self) -> str:
        return f"{self.provider}:{self.reason}"


@dataclass(slots=True)
class Outcome:
    """The answer of a chain: who answered, with what, and what was skipped before."""

    provider: VerdictProvider
    decision: Decision
    chain: list[VerdictProvider]
    fallbacks: list[Fallback] = field(default_factory=list)
    # Provider name -> what it asked the audit trail to keep (the answer's, a failed call's).
    audits: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.chain]


class Providers:
    """The provider objects of one service, by registered name."""

    def __init__(self, components: Any, metrics: ServiceMetrics) -> None:
        self.components = components
        self.metrics = metrics
        self._built: dict[str, VerdictProvider] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> VerdictProvider:
        """The provider called ``name``, built once (rebuilt if the name was re-registered)."""
        cls = provider_class(name)
        provider = self._built.get(name)
        if type(provider) is cls:
            return provider  # type: ignore[return-value]
        with self._lock:
            provider = self._built.get(name)
            if type(provider) is not cls:
                provider = cls.build(self.components)
                self._built[name] = provider
            return provider  # type: ignore[return-value]

    def run(self, names: list[str], ask: Ask, slots: DecisionSlots | None = None) -> Outcome:
        """Ask each provider of ``names`` in turn until one answers (the last must be
        ``hold`` or another provider that always answers). A remote provider is asked with the
        caller's decision slot (``slots``, held) given back."""
        outcome = self._run(names, ask, slots, local_only=False)
        assert outcome is not None  # only a local-only run stops short
        return outcome

    def run_local(self, names: list[str], ask: Ask) -> Outcome | None:
        """:meth:`run` up to the first remote provider: the outcome when a provider before it
        answers, else None (nothing counted: the caller runs the whole chain later)."""
        return self._run(names, ask, None, local_only=True)

    def _run(
        self, names: list[str], ask: Ask, slots: DecisionSlots | None, local_only: bool
    ) -> Outcome | None:
        chain = [self.get(name) for name in names]
        fallbacks: list[Fallback] = []
        audits: dict[str, dict[str, Any]] = {}
        skips: list[tuple[VerdictProvider, ProviderSkipped]] = []
        for provider in chain:
            if provider.remote and local_only:
                return None
            waits = slots.given_back() if provider.remote and slots is not None else nullcontext()
            try:
                with waits:
                    decision = self._ask(provider, ask)
            except ProviderSkipped as skipped:
                fallbacks.append(Fallback(provider.name, skipped.reason, provider.spends_money))
                if skipped.audit:
                    audits[provider.name] = skipped.audit
                skips.append((provider, skipped))
                continue
            for skipped_provider, skipped in skips:  # counted once the chain has answered
                self._skipped(skipped_provider, skipped, ask)
            if decision.audit:
                audits[provider.name] = decision.audit
            return Outcome(provider, decision, chain, fallbacks, audits)
        raise RuntimeError(f"no provider of the chain {names} answered (hold must end it)")

    @staticmethod
    def _ask(provider: VerdictProvider, ask: Ask) -> Decision:
        try:
            return provider.decide(ask)
        except ProviderSkipped:
            raise
        except redis.RedisError as exc:
            raise ProviderSkipped(SkipReason.redis_error, f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # a plug-in's bug must not block the decision
            log.exception("verdict provider %s failed", provider.name)
            raise ProviderSkipped(SkipReason.error, f"{type(exc).__name__}: {exc}") from None

    def _skipped(self, provider: VerdictProvider, skipped: ProviderSkipped, ask: Ask) -> None:
        self.metrics.fallbacks.labels(provider.name, str(skipped.reason)).inc()
        if skipped.detail:
            event = {
                "event": "provider_skipped",
                "bot_id": ask.bot_id,
                "provider": provider.name,
                "reason": str(skipped.reason),
                "detail": skipped.detail,
            }
            log.info(json.dumps(event))

    def close(self) -> None:
        with self._lock:
            built, self._built = list(self._built.values()), {}
        for provider in built:
            provider.close()
