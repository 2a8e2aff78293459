"""Our summary beside Freqtrade's report: gating figures, budget use, buy-and-hold."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def peak_exposure(trades: Iterable[Mapping[str, Any]]) -> tuple[float, int]:
    """The most quote currency ever tied up at once (entry cost plus entry fee) and when.

    ``trades`` are Freqtrade result trades (``open_timestamp``/``close_timestamp`` in ms,
    ``stake_amount``, ``fee_open``). At one timestamp exits are applied before entries, as in
    Freqtrade's backtest loop.
    """
    events: list[tuple[int, int, float]] = []
    for trade in trades:
        cost = float(trade["stake_amount"]) * (1 + float(trade.get("fee_open") or 0.0))
        events.append((int(trade["open_timestamp"]), 1, cost))
        close = trade.get("close_timestamp")
        if close is not None:
            events.append((int(close), 0, -cost))
    in_use = peak = 0.0
    peak_at = 0
    for when, _order, delta in sorted(events):
        in_use += delta
        if in_use > peak:
            peak, peak_at = in_use, when
    return peak, peak_at


def build_summary(
    strategy_result: Mapping[str, Any],
    gating: Mapping[str, Any] | None,
    budget: float,
    runtime_s: float,
) -> dict[str, Any]:
    trades = list(strategy_result.get("trades", []))
    peak, peak_at = peak_exposure(trades)
    total_profit = float(strategy_result.get("profit_total", 0.0))
    market_change = strategy_result.get("market_change")
    summary: dict[str, Any] = {
        "trades": len(trades),
        "profit_total_pct": round(100 * total_profit, 3),
        "profit_total_abs": round(float(strategy_result.get("profit_total_abs", 0.0)), 4),
        "buy_and_hold_pct": None if market_change is None else round(100 * market_change, 3),
        "max_drawdown_pct": round(100 * float(strategy_result.get("max_drawdown_account", 0)), 3),
        "budget": budget,
        "peak_stake_in_use": round(peak, 6),
        "peak_stake_at_ms": peak_at,
        "budget_held": peak <= budget + 1e-6,
        "runtime_s": round(runtime_s, 2),
    }
    summary["gating"] = dict(gating) if gating else None
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    lines = ["", "=" * 24 + " CONTEXT SERVICE SUMMARY " + "=" * 24]
    hold = summary["buy_and_hold_pct"]
    lines.append(
        f"trades {summary['trades']} | strategy {summary['profit_total_pct']:+.2f}% "
        f"({summary['profit_total_abs']:+.4f}) | buy-and-hold (market change) "
        + ("n/a" if hold is None else f"{hold:+.2f}%")
        + f" | max drawdown {summary['max_drawdown_pct']:.2f}%"
    )
    verdict = "HELD" if summary["budget_held"] else "EXCEEDED"
    lines.append(
        f"budget {summary['budget']:g}: peak stake in use {summary['peak_stake_in_use']:.4f} "
        f"(incl. entry fees) -> {verdict}"
    )
    gating = summary.get("gating")
    if not gating or not gating.get("gating"):
        lines.append("verdict gating: OFF (plain TA strategy)")
        if gating:
            refused = gating["entries_refused"]
            lines.append(
                "entries refused: "
                + (", ".join(f"{k} {v}" for k, v in refused.items()) if refused else "none")
            )
    else:
        by_source = ", ".join(f"{k} {v}" for k, v in sorted(gating["verdicts_by_source"].items()))
        lines.append(f"verdicts: {gating['decisions']} ({by_source or 'none'})")
        by_action = ", ".join(f"{k} {v}" for k, v in sorted(gating["verdicts_by_action"].items()))
        lines.append(f"  by candidate:action: {by_action or 'none'}")
        if gating["fallback_reasons"]:
            reasons = "; ".join(f"{k} x{v}" for k, v in gating["fallback_reasons"].items())
            lines.append(f"  fallbacks: {reasons}")
        lines.append(
            f"entries confirmed {gating['entries_confirmed']}, exits on sell verdicts "
            f"{gating['verdict_exits']}, engine unavailable {gating['engine_unavailable']}"
        )
        refused = gating["entries_refused"]
        if refused:
            lines.append("entries refused: " + ", ".join(f"{k} {v}" for k, v in refused.items()))
        else:
            lines.append("entries refused: none")
        lines.append(
            f"context tokens per decision {gating['context_tokens_per_decision']:.1f} "
            f"(total {gating['context_tokens_total']}, counted with "
            f"{_encodings(gating.get('context_encodings', {}))}) | LLM tokens "
            f"{gating['llm_prompt_tokens']}+{gating['llm_completion_tokens']} | LLM cost "
            f"${gating['llm_cost_usd']:.4f} | {gating['decide_ms_per_decision']:.2f} ms/decision"
        )
        per_lane = gating.get("context_items_per_decision") or {}
        if per_lane:
            evidence = ", ".join(gating.get("evidence") or []) or "none"
            lanes = ", ".join(f"{lane} {count:.2f}" for lane, count in per_lane.items() if count)
            lines.append(
                f"evidence in context: {evidence} | items per decision by lane: "
                f"{lanes or 'none'} | decisions with news {gating.get('decisions_with_news', 0)}"
            )
        lines.append(
            f"trade memory: {gating['memory_events_written']} events written to bot "
            f"{gating['bot_id']!r}, {gating['memory_write_failures']} failed"
        )
    if gating:
        lines.append(_regime_line(gating.get("regime_responses")))
        adjusted = gating.get("adjustments") or {}
        if adjusted.get("applied"):
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(adjusted["by_kind"].items()))
            lines.append(f"adjustments applied: {adjusted['applied']} ({kinds})")
    if summary.get("llm"):
        lines += llm_lines(summary["llm"], (gating or {}).get("fallback_reasons") or {})
    lines.append(f"runtime {summary['runtime_s']:.2f} s")
    lines.append("=" * 73)
    return "\n".join(lines)


def _regime_line(responses: Mapping[str, Any] | None) -> str:
    """What the regime responses did (the risk layer's, with or without gating)."""
    if responses is None:
        return "regime responses: off"
    line = (
        f"entries paused by regime: {responses['entries_paused']} | stakes scaled by regime: "
        f"{responses['stakes_scaled']} | trailing stops tightened by regime: "
        f"{responses['stops_tightened']}"
    )
    by_regime = responses.get("by_regime") or {}
    if by_regime:
        line += " (" + ", ".join(f"{k} {v}" for k, v in sorted(by_regime.items())) + ")"
    return line


def _encodings(counts: dict[str, int]) -> str:
    """How the context was counted; byte counting is flagged, it overstates tokens."""
    if not counts:
        return "n/a"
    names = ", ".join(sorted(counts))
    if "utf8-bytes" in counts:
        names += " (no tiktoken encoding loadable: bytes, an upper bound)"
    return names


def llm_lines(llm: Mapping[str, Any], fallback_reasons: Mapping[str, int]) -> list[str]:
    """The run's LLM spend: estimate, consent, charge and cap; the model's training cutoff."""
    estimate = llm.get("estimate")
    planned = (
        f"estimate {estimate['calls']} calls ${estimate['usd']:.4f} "
        f"(at most ${estimate['usd_no_cache']:.4f})"
        if estimate
        else "no estimate (unpriced provider)"
    )
    charged = llm.get("charged_usd")
    cap = llm.get("run_cap_usd")
    capped = sum(n for reason, n in fallback_reasons.items() if "llm:run_cap" in reason)
    line = (
        f"LLM {llm['model']}: {planned} | charged "
        + ("n/a" if charged is None else f"${charged:.4f}")
        + " (the run's ledger, failed calls included) | run cap "
        + ("none" if cap is None else f"${cap:.4f}, {capped} asks fell back at it")
        + f" | consent: {llm.get('consent')}"
    )
    lines = [line]
    if "training_cutoff" in llm:
        lines.append(f"training cutoff of {llm['model']}: {llm['training_cutoff'] or 'unknown'}")
    if llm.get("cutoff_warning"):
        lines.append(f"WARNING: {llm['cutoff_warning']}")
    return lines
