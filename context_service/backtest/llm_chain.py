"""Which verdict chains of a backtest or evaluation spend money, and in what order they ask.

A chain spends money when one of its providers does (``spends_money``; the ``llm`` provider,
when the LLM is enabled). Such a chain asks the replay cache first: every paid answer is kept
there (``verdicts/record.py``), so the same question asked again (a re-run on unchanged data and
settings) is answered for free. ``--provider llm`` therefore starts the chain at ``replay``,
whose fallback is ``llm``: ``replay -> llm -> rules -> hold``.

For the length of a run, the registered ``llm`` provider can be replaced by a variant (the
estimate's dry provider, the run-capped one) with :func:`registered_as`: the service builds its
providers from the registry when the strategy starts, and forked evaluation workers inherit it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from context_service.settings import Settings
from context_service.verdicts.chain import chain_from
from context_service.verdicts.provider import VerdictProvider, provider_class, register

LLM = "llm"
REPLAY = "replay"


@dataclass(frozen=True)
class ChainSpend:
    """A chain and the providers of it that can spend money in this configuration."""

    start: str  # the provider the chain starts at (``replay`` for a paid chain)
    chain: list[str]
    spenders: list[str]

    @property
    def spends(self) -> bool:
        return bool(self.spenders)

    @property
    def priced(self) -> bool:
        """Whether every spender is the ``llm`` provider, whose calls can be priced and capped
        (a plug-in that spends money does so in its own way)."""
        return self.spenders == [LLM]


def replay_first(start: str) -> str:
    """``replay`` when ``start`` spends money and is the replay provider's fallback (so the
    chain asks the cache before paying); ``start`` otherwise."""
    try:
        replay = provider_class(REPLAY)
    except ValueError:
        return start
    if provider_class(start).spends_money and replay.fallback == start:
        return REPLAY
    return start


def chain_spend(start: str, settings: Settings) -> ChainSpend:
    """The chain a run starting at ``start`` asks, replay first when it spends money."""
    first = replay_first(start)
    chain = chain_from(first)
    spenders = [
        name
        for name in chain
        if provider_class(name).spends_money and (name != LLM or settings.llm_enabled)
    ]
    return ChainSpend(first if spenders else start, chain, spenders)


@contextmanager
def registered_as(provider: type[VerdictProvider]) -> Iterator[None]:
    """Register ``provider`` under its name for the block, then put the original back."""
    original = provider_class(provider.name)
    register(provider)
    try:
        yield
    finally:
        register(original)
