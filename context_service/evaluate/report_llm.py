"""The LLM part of an evaluation's report (terminal summary and HTML): the spend estimate and
what was charged, the masked-against-unmasked agreement and the model's training cutoff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context_service.evaluate.report import _esc, table


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _fallbacks(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _agreement(sample: Mapping[str, Any]) -> str:
    rate, diff = sample["agreement_rate"], sample["mean_abs_confidence_diff"]
    return (
        f"same action {sample['same_action']} of {sample['answered_both']} answered both ways"
        + ("" if rate is None else f" ({100 * rate:.1f} %)")
        + ("" if diff is None else f", mean |confidence diff| {diff:.3f}")
    )


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """Terminal lines (none without a paid provider)."""
    llm = result.get("llm")
    if not llm:
        return []
    est, cost = llm.get("estimate"), llm["cost_usd"]
    chains = "; ".join(" -> ".join(chain) for chain in llm["chains"].values())
    parts = " + ".join(f"{k} {_usd(v)}" for k, v in cost["variants"].items())
    lines = [
        f"LLM {llm['model']} (chain {chains}): estimate "
        + (
            f"{est['calls']} calls {_usd(est['usd'])} (at most {_usd(est['usd_no_cache'])})"
            if est
            else "none (unpriced provider)"
        )
        + f" | cost {parts} + mask sample {_usd(cost['mask_sample'])} = {_usd(cost['total'])} | "
        f"charged {_usd(llm['charged_usd'])} (the run's ledger, failed calls included) | run cap "
        + ("none" if llm["run_cap_usd"] is None else _usd(llm["run_cap_usd"]))
        + f" | consent: {llm['consent']}",
        f"training cutoff of {llm['model']}: {llm.get('training_cutoff') or 'unknown'}",
    ]
    for sample in llm["mask_agreement"]:
        lines.append(
            f"masked vs unmasked ({sample['variant']}, {sample['candles']} candles, seed "
            f"{sample['seed']}): {_agreement(sample)}; fallbacks masked "
            f"{_fallbacks(sample['fallbacks']['masked'])}, unmasked "
            f"{_fallbacks(sample['fallbacks']['unmasked'])}"
        )
    if not llm["mask_agreement"] and llm.get("mask_sample") == 0:
        lines.append("masked vs unmasked: not measured (--mask-sample 0)")
    return lines


def html_section(result: Mapping[str, Any]) -> str:
    """The HTML sections (empty without a paid provider)."""
    llm = result.get("llm")
    if not llm:
        return ""
    est = llm.get("estimate")
    parts = ["<h2>LLM spend</h2>"]
    parts.append(
        f"<p>Model <b>{_esc(llm['model'])}</b>, training cutoff "
        f"<b>{_esc(llm.get('training_cutoff') or 'unknown')}</b> (context_service/llm/"
        "capabilities.py). Consent: "
        f"{_esc(llm['consent'])}; run cap: {_esc(_usd(llm['run_cap_usd']))}; charged by the run's "
        f"ledger (failed calls included): <b>{_esc(_usd(llm['charged_usd']))}</b>.</p>"
    )
    if est:
        columns = ["name", "asks", "cached", "calls", "prompt_tokens_per_call"]
        columns += ["completion_tokens_per_call", "cached_prompt_tokens", "usd", "usd_no_cache"]
        parts.append("<h3>Estimate, printed before any call</h3>")
        parts.append(table(est["lines"], columns))
        parts.append(f"<p class=note>{_esc(est['method'])} Prices: {_esc(est['prices'])}.</p>")
    cost = llm["cost_usd"]
    rows = [{"item": k, "usd": v} for k, v in cost["variants"].items()]
    rows += [{"item": "mask sample", "usd": cost["mask_sample"]}]
    rows += [{"item": "total", "usd": cost["total"]}]
    parts.append("<h3>Cost</h3>" + table(rows))
    parts.append("<h2>Masked against unmasked</h2>")
    parts.append(
        "<p class=note>The same context asked twice, masking on (neutral asset labels, time "
        "offsets, returns) and off. Low agreement hints that the unmasked verdicts lean on what "
        "the model recalls of these names and dates. Answers that failed count as fallbacks "
        "and leave the candle out.</p>"
    )
    if not llm["mask_agreement"]:
        parts.append("<p class=note>Not measured (--mask-sample 0).</p>")
    for sample in llm["mask_agreement"]:
        parts.append(
            f"<p>{_esc(sample['variant'])}: {_esc(sample['candles'])} candles (seed "
            f"{_esc(sample['seed'])}): <b>{_esc(_agreement(sample))}</b>. Fallbacks: masked "
            f"{_esc(_fallbacks(sample['fallbacks']['masked']))}, unmasked "
            f"{_esc(_fallbacks(sample['fallbacks']['unmasked']))}. From the replay cache: masked "
            f"{_esc(sample['from_replay_cache']['masked'])}, unmasked "
            f"{_esc(sample['from_replay_cache']['unmasked'])}.</p>"
        )
        if sample["rows"]:
            parts.append(table(sample["rows"]))
    return "".join(parts)
