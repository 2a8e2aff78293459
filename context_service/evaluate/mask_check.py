"""Masked against unmasked: does the model answer the same without names, dates and prices?

A model asked about "BTC/USDT on 2022-05-09" may recall what happened next; masking
(``llm/masking.py``) shows it neutral labels, time offsets and returns instead. On a seeded
sample of the candles the gated run asked about, the model is asked twice with the same
context, masking on and masking off, and the answers are compared: the share with the same
action, and the mean absolute difference of confidence. Low agreement hints that the unmasked
verdicts lean on recall of the names and dates, not on the data shown.

Both modes go through the replay cache (masking is part of the replay key, so the two answers
are kept apart), so a re-run asks nothing. An answer the model botches (garbage, a timeout, the
run cap) is counted as that mode's fallback, and the candle is left out of the comparison.
"""

from __future__ import annotations

import logging
import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from context_service.composition import compose
from context_service.keys import Keyspace
from context_service.llm.client import LLMClient
from context_service.llm.params import settings_replay_params
from context_service.settings import Settings
from context_service.verdicts.provider import (
    Ask,
    Decision,
    ProviderSkipped,
    SkipReason,
    VerdictProvider,
    provider_class,
)
from context_service.verdicts.record import make_verdict
from context_service.verdicts.replay import ReplayCache
from context_service.verdicts.runner import Fallback, Outcome

log = logging.getLogger(__name__)

MASK_SEED = 7
LOW_AGREEMENT = 0.8  # below it the report warns
MODES = {"masked": True, "unmasked": False}
LISTED = 60


def sample_asks(asks: Sequence[Ask], size: int, seed: int = MASK_SEED) -> list[Ask]:
    """``size`` distinct candidate candles of ``asks`` (entry and exit), seeded, in time order."""
    unique: dict[tuple, Ask] = {}
    for ask in asks:
        r = ask.request
        unique.setdefault((r.candle_time, r.pair, r.candidate), ask)
    ordered = [unique[key] for key in sorted(unique)]
    chosen = random.Random(seed).sample(range(len(ordered)), min(size, len(ordered)))
    return [ordered[i] for i in sorted(chosen)]


def mode_settings(settings: Settings, masked: bool) -> Settings:
    return settings.model_copy(update={"llm_masking": masked})


def as_mode(ask: Ask, settings: Settings) -> Ask:
    """``ask`` with the replay parameters of ``settings`` (its masking mode)."""
    return Ask(ask.request, ask.synthesis, ask.now, settings_replay_params(settings))


def uncached(sample: Sequence[Ask], settings: Settings, cache: ReplayCache) -> list[Ask]:
    """The asks of ``sample`` the replay cache has no answer to in ``settings``' mode."""
    return [a for a in sample if cache.get(a.bot_id, as_mode(a, settings).replay_key) is None]


@dataclass
class ModeAnswers:
    """One masking mode's answers to the sample (by index), what fell back and the cost."""

    answers: dict[int, Decision] = field(default_factory=dict)
    fallbacks: Counter[str] = field(default_factory=Counter)
    from_cache: int = 0
    cost_usd: float = 0.0


def _try(provider: VerdictProvider, ask: Ask) -> Decision:
    """The provider's decision; any failure is a skip (as the service's chain treats it)."""
    try:
        return provider.decide(ask)
    except ProviderSkipped:
        raise
    except redis.RedisError as exc:
        raise ProviderSkipped(SkipReason.redis_error, str(exc)) from None
    except Exception as exc:
        log.exception("masked sample: provider %s failed", provider.name)
        raise ProviderSkipped(SkipReason.error, f"{type(exc).__name__}: {exc}") from None


def ask_mode(
    sample: Sequence[Ask],
    settings: Settings,
    client: redis.Redis,
    keyspace: Keyspace,
    progress: Callable[[str], None],
    label: str,
) -> ModeAnswers:
    """Ask every candle of ``sample`` in ``settings``' masking mode: the replay cache first,
    then the registered ``llm`` provider (its answers go into the cache)."""
    components = compose(settings, client, keyspace, LLMClient.from_settings(settings), "memory")
    replay = provider_class("replay").build(components)
    model = provider_class("llm").build(components)
    out = ModeAnswers()
    try:
        for index, original in enumerate(sample):
            ask = Ask(original.request, original.synthesis, original.now, components.replay_params)
            _answer(index, ask, replay, model, components.replay, out)
            if (index + 1) % 10 == 0 and index + 1 < len(sample):
                progress(f"masked sample ({label}): {index + 1}/{len(sample)} candles asked")
    finally:
        model.close()
    return out


def _answer(
    index: int,
    ask: Ask,
    replay: VerdictProvider,
    model: VerdictProvider,
    cache: ReplayCache,
    out: ModeAnswers,
) -> None:
    """One candle in one mode: the cached answer, else the model's (kept in the cache)."""
    try:
        out.answers[index] = _try(replay, ask)
        out.from_cache += 1
        return
    except ProviderSkipped:
        pass
    try:
        decision = _try(model, ask)
    except ProviderSkipped as skipped:
        out.fallbacks[str(skipped.reason)] += 1
        return
    out.answers[index] = decision
    out.cost_usd += decision.cost_usd
    if decision.replayable:
        outcome = Outcome(model, decision, [replay, model], [Fallback("replay", "miss", False)])
        cache.put(ask.bot_id, ask.replay_key, make_verdict(ask, outcome, 0.0))


def compare(sample: Sequence[Ask], masked: ModeAnswers, unmasked: ModeAnswers) -> dict[str, Any]:
    """Agreement of the two modes on the candles both answered."""
    both = [i for i in range(len(sample)) if i in masked.answers and i in unmasked.answers]
    same = [i for i in both if masked.answers[i].action == unmasked.answers[i].action]
    diffs = [abs(masked.answers[i].confidence - unmasked.answers[i].confidence) for i in both]
    rows = []
    for i in both:
        m, u, r = masked.answers[i], unmasked.answers[i], sample[i].request
        rows.append(
            {
                "pair": r.pair,
                "candle": r.candle_time.isoformat(),
                "candidate": r.candidate,
                "masked": f"{m.action} {m.confidence:.2f}",
                "unmasked": f"{u.action} {u.confidence:.2f}",
                "agree": m.action == u.action,
            }
        )
    return {
        "candles": len(sample),
        "answered_both": len(both),
        "same_action": len(same),
        "agreement_rate": round(len(same) / len(both), 4) if both else None,
        "mean_abs_confidence_diff": round(statistics.fmean(diffs), 4) if diffs else None,
        "fallbacks": {"masked": dict(masked.fallbacks), "unmasked": dict(unmasked.fallbacks)},
        "from_replay_cache": {"masked": masked.from_cache, "unmasked": unmasked.from_cache},
        "cost_usd": round(masked.cost_usd + unmasked.cost_usd, 6),
        "rows": [row for row in rows if not row["agree"]][:LISTED],
    }


def agreement_warning(variant: str, result: dict[str, Any]) -> str | None:
    rate = result.get("agreement_rate")
    if rate is None or rate >= LOW_AGREEMENT:
        return None
    return (
        f"{variant}: masked and unmasked verdicts agree on only {100 * rate:.0f} % of "
        f"{result['answered_both']} sampled candles: the model may lean on what it recalls of "
        "these names and dates"
    )


def check(
    variant: str,
    asks: Sequence[Ask],
    size: int,
    settings: Settings,
    client: redis.Redis,
    keyspace: Keyspace,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The masked sample of one gated variant: its report entry."""
    sample = sample_asks(asks, size)
    progress(
        f"masked sample of {variant}: {len(sample)} candles, each asked masked and unmasked ..."
    )
    modes = {
        label: ask_mode(sample, mode_settings(settings, on), client, keyspace, progress, label)
        for label, on in MODES.items()
    }
    result = {"variant": variant, "seed": MASK_SEED, "requested": size}
    result |= compare(sample, modes["masked"], modes["unmasked"])
    progress(
        f"masked sample of {variant}: {result['same_action']} of {result['answered_both']} "
        f"answered both ways agree, ${result['cost_usd']:.4f}"
    )
    return result
