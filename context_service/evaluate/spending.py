"""The LLM spend of an evaluation: estimate and consent before any call, a capped run, the
masked sample, and the bill.

For every evaluated provider whose chain spends money (``backtest/llm_chain.py``: replay
first, so a re-run pays nothing), :meth:`EvaluationSpend.prepare` runs the gated variant once
with the dry ``llm`` step on the shared backtest (``backtest/dry_llm.py``), prices its calls and
the masked sample's (``backtest/estimate.py``; those the replay cache holds are free), prints
the estimate and asks for consent (``backtest/consent.py``). The variants and the masked sample
then run under :meth:`EvaluationSpend.capped`; the random gate's seeds call no LLM.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

from context_service.backtest.dry_llm import prompt_count
from context_service.backtest.estimate import LineEstimate
from context_service.backtest.llm_chain import ChainSpend, chain_spend
from context_service.backtest.llm_guard import SpendGuard, print_estimate, spend_options
from context_service.engine.tokens import TokenCounter
from context_service.evaluate import mask_check
from context_service.evaluate.runner import SharedBacktest, Variant, VariantRun
from context_service.keys import DEFAULT_PREFIX, Keyspace
from context_service.settings import Settings
from context_service.verdicts.provider import Ask
from context_service.verdicts.replay import ReplayCache

Progress = Callable[[str], None]


def chain_starts(providers: list[str], settings: Settings) -> dict[str, ChainSpend]:
    """Each evaluated provider's chain (replay first when it spends money)."""
    return {name: chain_spend(name, settings) for name in providers}


@dataclass
class EvaluationSpend:
    """Estimate, consent, cap and masked sample of an evaluation with paid providers."""

    settings: Settings
    spends: dict[str, ChainSpend]  # the providers whose chain spends money
    guard: SpendGuard
    mask_sample: int
    key_prefix: str
    prepass_asks: dict[str, list[Ask]] = field(default_factory=dict)
    mask_results: list[dict[str, Any]] = field(default_factory=list)
    _redis: redis.Redis | None = field(default=None, repr=False)

    @classmethod
    def prepare(
        cls,
        args: argparse.Namespace,
        settings: Settings,
        shared: SharedBacktest,
        progress: Progress,
    ) -> EvaluationSpend | None:
        """Estimate and consent (:class:`SpendProblem` without it); None when nothing spends."""
        spends = {n: s for n, s in chain_starts(args.provider, settings).items() if s.spends}
        if not spends:
            return None
        prefix = (shared.config.get("context") or {}).get("key_prefix") or DEFAULT_PREFIX
        guard = SpendGuard(settings, list(spends.values()), spend_options(args, settings))
        spend = cls(settings, spends, guard, args.mask_sample, prefix)
        if guard.price is not None:
            lines: list[LineEstimate] = []
            for name, chain in spends.items():
                lines += spend._estimate_variant(name, chain, shared, progress)
            seeds = f"{args.seeds} seed{'s' if args.seeds != 1 else ''}"
            free = [f"random~{name} ({seeds})" for name in spends]
            estimate = guard.estimate(lines, free)
            print_estimate(estimate, progress, guard.options.max_usd)
        guard.consent()
        return spend

    def variant(self, name: str) -> Variant:
        """The gated variant of ``name``: its chain's start, its asks kept for the sample."""
        chain = self.spends.get(name)
        return Variant(
            f"gated:{name}",
            "gated",
            name,
            chain_start=chain.start if chain else None,
            capture_asks=chain is not None and self.mask_sample > 0,
        )

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            from context_service.memory.connection import connect

            self._redis = connect(self.settings)
        return self._redis

    def _estimate_variant(
        self, name: str, chain: ChainSpend, shared: SharedBacktest, progress: Progress
    ) -> list[LineEstimate]:
        progress(
            f"estimating the LLM spend of gated:{name} (chain {' -> '.join(chain.chain)}): a dry "
            "pre-pass, nothing is called ..."
        )
        dry = Variant(
            f"estimate:{name}",
            "gated",
            name,
            chain_start=chain.start,
            capture_asks=self.mask_sample > 0,
        )
        with self.guard.dry() as tally:
            run = shared.run(dry)
        lines = [self.guard.line(f"gated:{name}", len(run.verdicts), tally.counts)]
        self.prepass_asks[name] = run.asks
        if self.mask_sample > 0:
            lines += self._estimate_sample(name, run)
        return lines

    def _estimate_sample(self, name: str, run: VariantRun) -> list[LineEstimate]:
        """Both modes of the masked sample, drawn from the pre-pass' asks as the real sample
        is drawn from the run's; the answers the replay cache holds are free."""
        sample = mask_check.sample_asks(run.asks, self.mask_sample)
        cache = ReplayCache(self.redis, Keyspace(self.key_prefix))
        counter = TokenCounter(self.settings.llm_model)
        lines = []
        for label, masked in mask_check.MODES.items():
            title = f"mask sample of gated:{name}, {label}"
            if masked == self.settings.llm_masking:
                # The run's own question: the gated run's answer is in the cache by then.
                note = "the gated run's own answers"
                lines.append(self.guard.line(title, len(sample), [], note=note))
                continue
            settings = mask_check.mode_settings(self.settings, masked)
            missing = mask_check.uncached(sample, settings, cache)
            counts = [prompt_count(settings, counter, a.request, a.synthesis.text) for a in missing]
            lines.append(self.guard.line(title, len(sample), counts))
        return lines

    @contextmanager
    def capped(self) -> Iterator[None]:
        with self.guard.capped():
            yield

    def check_masking(self, runs: list[VariantRun], progress: Progress) -> list[str]:
        """The masked sample of every paid gated variant (under the cap); its warnings."""
        warnings = []
        if self.mask_sample <= 0 or self.guard.price is None:
            return warnings
        for run in runs:
            if run.variant.kind != "gated" or run.variant.provider not in self.spends:
                continue
            result = mask_check.check(
                run.variant.name,
                run.asks,
                self.mask_sample,
                self.settings,
                self.redis,
                Keyspace(self.key_prefix),
                progress,
            )
            self.mask_results.append(result)
            warning = mask_check.agreement_warning(run.variant.name, result)
            if warning:
                warnings.append(warning)
        return warnings

    def report(self, runs: list[VariantRun]) -> dict[str, Any]:
        """The run's LLM bill and the masked samples, for the report."""
        charged = self.guard.run.spent_usd(self.settings, self.key_prefix)
        report = self.guard.report(charged)
        by_variant = {
            run.variant.name: round(run.llm_cost, 6)
            for run in runs
            if run.variant.kind == "gated" and run.variant.provider in self.spends
        }
        sample = sum(r["cost_usd"] for r in self.mask_results)
        report["cost_usd"] = {
            "variants": by_variant,
            "mask_sample": round(sample, 6),
            "total": round(sum(by_variant.values()) + sample, 6),
        }
        report["mask_sample"] = self.mask_sample
        report["mask_agreement"] = self.mask_results
        return report
