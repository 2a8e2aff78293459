"""``backtest`` with a chain that spends money: estimate, consent, replay first, a capped run.

Around Freqtrade's backtest (the merged configuration in hand), :func:`paid_run`:

* starts the chain at the replay cache (``llm_chain.py``), so a re-run pays nothing;
* runs the backtest once with the dry ``llm`` step and prints the estimate (``prepass.py``);
* asks for consent (``consent.py``): without it the run stops here, before any call;
* runs the real backtest with the run's spend counted and capped (``run_cap.py``), and leaves
  what was charged and the model's training cutoff for the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from context_service.backtest.cutoff import cutoff_warning
from context_service.backtest.llm_chain import chain_spend
from context_service.backtest.llm_guard import SpendGuard, print_estimate, spend_options
from context_service.backtest.prepass import dry_backtest
from context_service.client.options import read_options
from context_service.settings import Settings


@dataclass
class PaidRun:
    """What the summary reports of a run's LLM spend (``guard`` None: nothing spends)."""

    guard: SpendGuard | None = None
    key_prefix: str = ""
    charged_usd: float | None = None

    def report(self, settings: Settings, window_end: date | None) -> dict[str, Any] | None:
        if self.guard is None:
            return None
        report = self.guard.report(self.charged_usd)
        if window_end is not None:
            cutoff, warning = cutoff_warning(
                settings.llm_model, window_end, settings.llm_capabilities
            )
            report["training_cutoff"] = None if cutoff is None else cutoff.isoformat()
            report["cutoff_warning"] = warning
        return report


def spending_start(provider: str | None, config: dict[str, Any], settings: Settings) -> bool:
    """Whether a run starting at ``provider`` (else the config's, else the setting's) spends."""
    start = provider or (config.get("context") or {}).get("provider") or settings.verdict_provider
    return chain_spend(start, settings).spends


@contextmanager
def paid_run(
    config: dict[str, Any], args: Any, settings: Settings, out: Callable[[str], None] = print
) -> Iterator[PaidRun]:
    """The block runs the real backtest of ``config`` (changed in place: the chain's start)."""
    options = read_options(config)
    spend = chain_spend(options.provider or settings.verdict_provider, settings)
    if not options.gating or not spend.spends:
        yield PaidRun()
        return
    config.setdefault("context", {})["provider"] = spend.start
    guard = SpendGuard(settings, [spend], spend_options(args, settings))
    if guard.price is not None:
        out(f"chain {' -> '.join(spend.chain)}: estimating the LLM spend with a dry pre-pass ...")
        prepass = dry_backtest(config, guard)
        estimate = guard.estimate([guard.line("backtest", prepass.asks, prepass.tally.counts)])
        print_estimate(estimate, out, guard.options.max_usd)
    guard.consent()
    run = PaidRun(guard, options.key_prefix)
    with guard.capped():
        yield run
    run.charged_usd = guard.run.spent_usd(settings, options.key_prefix)
