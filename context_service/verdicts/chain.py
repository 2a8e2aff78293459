"""The verdict provider chain, built from the registry.

A chain is an ordered list of registered provider names; ``hold`` always ends it, so every
request gets a verdict. A chain may start at any registered provider (``CTX_VERDICT_PROVIDER``,
``--provider``) and then follows each provider's ``fallback`` (the built-ins give
``replay -> llm -> rules -> hold``), or a caller may pass its own list (``["rules"]`` for offline
backtests, ``["replay", "rules"]`` to replay dry-run verdicts).
"""

from __future__ import annotations

from collections.abc import Sequence

from context_service.contract import VerdictSource
from context_service.verdicts.provider import (
    ProviderSkipped,
    provider_class,
    registered_providers,
)

__all__ = ["LAST", "ProviderSkipped", "chain_from", "live_start", "resolve_chain"]

LAST = VerdictSource.hold.value


def chain_from(start: str) -> list[str]:
    """``start`` and the providers its fallbacks lead to, ending with ``hold``."""
    names: list[str] = []
    name: str | None = start
    while name is not None and name != LAST:
        if name in names:
            raise ValueError(f"verdict providers fall back in a loop: {' -> '.join(names)}")
        provider_class(name)  # a clear error naming the registered providers
        names.append(name)
        name = provider_class(name).fallback
    return [*names, LAST]


def resolve_chain(providers: Sequence[str] | None, start: str) -> list[str]:
    """The providers to try in order, always ending with ``hold``."""
    if providers is None:
        return chain_from(start)
    names = list(dict.fromkeys(providers))
    unknown = []
    for name in names:
        try:
            provider_class(name)
        except ValueError:
            unknown.append(name)
    if unknown:
        registered = ", ".join(p.name for p in registered_providers())
        raise ValueError(
            f"unknown verdict provider(s) {', '.join(map(repr, unknown))}; registered: {registered}"
        )
    if LAST in names:
        names.remove(LAST)
    return [*names, LAST]


def live_start(configured: str, llm_enabled: bool) -> str:
    """Where live (HTTP) requests start: the whole chain, replay first, when the LLM is on;
    the configured provider otherwise."""
    return VerdictSource.replay.value if llm_enabled else configured
