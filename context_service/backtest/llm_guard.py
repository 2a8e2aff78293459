"""The LLM spend of one backtest or evaluation: estimate, consent, the per-run cap, the bill.

:class:`SpendGuard` is built when a run's chain spends money (``llm_chain.chain_spend``). The
run then goes:

1. a dry pre-pass under :meth:`SpendGuard.dry` (the ``llm`` step counts prompts, calls nothing);
2. :meth:`SpendGuard.estimate` and :func:`print_estimate`, then :meth:`SpendGuard.consent`
   (stops the run before any call unless the user agreed, see ``consent.py``);
3. the run under :meth:`SpendGuard.capped`: the ``llm`` provider's spend is counted for the run
   and stopped at the cap (``run_cap.py``);
4. :meth:`SpendGuard.report`: estimate, consent, cap and what was charged, for the summaries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from context_service.backtest.consent import SpendOptions, SpendProblem, consent
from context_service.backtest.dry_llm import DryTally, PromptCount, dry_llm_provider
from context_service.backtest.estimate import (
    LineEstimate,
    SpendEstimate,
    format_estimate,
    line_estimate,
)
from context_service.backtest.llm_chain import LLM, ChainSpend, registered_as
from context_service.backtest.run_cap import RunSpend, run_capped_provider
from context_service.engine.tokens import TokenCounter
from context_service.llm.pricing import ModelPrice, UnknownModelPrice, price_for
from context_service.llm.request_shape import sampling_for
from context_service.settings import Settings
from context_service.verdicts.provider import provider_class


def spend_options(args: Any, settings: Settings) -> SpendOptions:
    """``--yes`` / ``--max-usd`` (else ``CTX_BACKTEST_MAX_USD``), and whether a user can be
    asked (stdin is a terminal)."""
    cap = getattr(args, "max_usd", None) or settings.backtest_max_usd
    return SpendOptions(bool(getattr(args, "yes", False)), cap, sys.stdin.isatty())


@dataclass
class SpendGuard:
    """Estimate, consent and cap of one run whose chain spends money."""

    settings: Settings
    spends: list[ChainSpend]
    options: SpendOptions
    run: RunSpend = field(init=False)
    price: ModelPrice | None = field(init=False, default=None)
    estimate_: SpendEstimate | None = field(init=False, default=None)
    consent_: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.run = RunSpend(self.options.max_usd)
        if any(LLM in s.spenders for s in self.spends):
            try:
                self.price = price_for(self.settings.llm_prices, self.settings.llm_model)
            except UnknownModelPrice as exc:
                raise SpendProblem(str(exc)) from None
        if self.options.max_usd is not None and self.unpriced:
            raise SpendProblem(
                f"--max-usd caps the llm provider only; {', '.join(self.unpriced)} spend money "
                "in their own way: use --yes"
            )

    @property
    def unpriced(self) -> list[str]:
        """Spending providers other than ``llm`` (plug-ins): no price, no cap."""
        return sorted({n for s in self.spends for n in s.spenders if n != LLM})

    @property
    def completion_tokens(self) -> int:
        return sampling_for(self.settings).completion_limit

    @property
    def tokenizer(self) -> str:
        return TokenCounter(self.settings.llm_model).encoding_name

    @contextmanager
    def dry(self) -> Iterator[DryTally]:
        """The registered ``llm`` provider replaced by the counting one for the block."""
        tally = DryTally()
        with registered_as(dry_llm_provider(provider_class(LLM), tally)):
            yield tally

    @contextmanager
    def capped(self) -> Iterator[None]:
        """The registered ``llm`` provider counted and capped for the run."""
        with registered_as(run_capped_provider(provider_class(LLM), self.run)):
            yield

    def line(
        self, name: str, asks: int, counts: Sequence[PromptCount], **kwargs: Any
    ) -> LineEstimate:
        assert self.price is not None
        return line_estimate(name, asks, counts, self.price, self.completion_tokens, **kwargs)

    def estimate(self, lines: list[LineEstimate], free_lines: Sequence[str] = ()) -> SpendEstimate:
        assert self.price is not None
        self.estimate_ = SpendEstimate(
            model=self.settings.llm_model,
            price=self.price,
            tokenizer=self.tokenizer,
            lines=lines,
            rate_per_minute=self.settings.rate_bot_per_minute,
            free_lines=list(free_lines),
        )
        return self.estimate_

    def consent(self, ask: Callable[[str], str] = input) -> str:
        """Whether the run may go on; :class:`SpendProblem` (before any call) otherwise."""
        estimate = self.estimate_ if self.price is not None else None
        self.consent_ = consent(estimate, self.unpriced, self.options, ask)
        return self.consent_

    def report(self, charged_usd: float | None) -> dict[str, Any]:
        """What the summaries show: the estimate, how consent was given, cap and charge."""
        cap = self.options.max_usd
        return {
            "model": self.settings.llm_model,
            "providers": sorted({n for s in self.spends for n in s.spenders}),
            "chains": {s.start: s.chain for s in self.spends},
            "estimate": self.estimate_.as_dict() if self.estimate_ else None,
            "consent": self.consent_,
            "run_cap_usd": None if cap is None else float(cap),
            "charged_usd": None if charged_usd is None else round(charged_usd, 6),
            "run_id": self.run.run_id,
        }


def print_estimate(estimate: SpendEstimate, out: Callable[[str], None], cap: Any) -> None:
    """The estimate's lines, and what a cap below it means."""
    for text in format_estimate(estimate):
        out(text)
    if cap is not None and estimate.usd_no_cache > float(cap):
        out(
            f"  run cap ${float(cap):,.4f} is below the estimate: the run stops calling the LLM "
            "once it is spent and the chain falls back (recorded as run_cap)"
        )
