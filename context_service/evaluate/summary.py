"""The terminal summary of an evaluation: one table, the comparisons, one-line verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from context_service.evaluate.report_llm import summary_lines
from context_service.evaluate.shadow import refused_set_meaning


def _num(value: Any, fmt: str = "{:+.2f}") -> str:
    if value is None:
        return "n/a"
    if value == "inf":
        return "inf"
    return fmt.format(value)


def _row(name: str, f: Mapping[str, Any]) -> str:
    return (
        f"{name:<24}{f['trades']:>7}{_num(f['profit_pct']):>10}"
        f"{_num(f['max_drawdown_pct'], '{:.2f}'):>9}"
        f"{_num(f['sharpe']):>8}{_num(f['sortino']):>9}{_num(f['profit_factor'], '{:.2f}'):>7}"
        f"{_num(f['exposure_pct'], '{:.1f}'):>8}{f['llm_cost_usd']:>9.4f}{f['llm_tokens']:>10}"
    )


def _spread(value: Any, fmt: str = "{:+.2f}") -> str:
    if not isinstance(value, Mapping):
        return _num(value, fmt)
    return fmt.format(value["mean"]) + f" [{fmt.format(value['min'])}, {fmt.format(value['max'])}]"


def _interval(c: Mapping[str, Any]) -> str:
    return (
        f"{c['estimate']:+.2f} pts [{c['low']:+.2f}, {c['high']:+.2f}] "
        f"(ahead in {100 * c['share_above_zero']:.0f} % of resamples)"
    )


def format_summary(result: Mapping[str, Any]) -> str:
    period = result["period"]
    lines = [
        "",
        "=" * 30 + " EVALUATION " + "=" * 30,
        f"period {period['start'][:16]} -> {period['end'][:16]} ({period['days']} days, "
        f"{period['timeframe']}), pairs {', '.join(period['pairs'])}, wallet {period['wallet']:g}, "
        f"fee {100 * period['fee']:.2f} %",
        result["run"]["tuning"],
        "",
        f"{'variant':<24}{'trades':>7}{'profit%':>10}{'maxDD%':>9}{'Sharpe':>8}{'Sortino':>9}"
        f"{'PF':>7}{'expo%':>8}{'LLM $':>9}{'tokens':>10}",
    ]
    for f in result["variants"]:
        if f["kind"] != "random":
            lines.append(_row(f["name"], f))
    for agg in result["random_summary"]:
        lines.append(
            f"{agg['name'] + ' (' + str(agg['seeds']) + ' seeds)':<24}"
            f" trades {_spread(agg['trades'], '{:.0f}')}, profit% {_spread(agg['profit_pct'])}, "
            f"maxDD% {_spread(agg['max_drawdown_pct'], '{:.2f}')}, Sharpe {_spread(agg['sharpe'])}"
        )
    for f in result["holds"]:
        lines.append(_row(f["name"], f))
    for gate in result["gates"]:
        lines += ["", f"{gate['gated']}:"]
        entry, exit_ = gate["entry_approval_rate"], gate["exit_approval_rate"]
        lines.append(
            f"  approved {_num(entry and 100 * entry, '{:.1f}')} % of entry candidates, "
            f"{_num(exit_ and 100 * exit_, '{:.1f}')} % of exit candidates "
            "(the random gate's rates)"
        )
        lines.append(f"  gate - ungated: {_interval(gate['vs_ungated'])}")
        if gate.get("vs_random"):
            lines.append(f"  gate - random:  {_interval(gate['vs_random'])}")
        s = gate["shadow"]
        a, r = s["approved"], s["refused"]
        lines.append(
            f"  refusals: {r['decisions']} entries refused, {r['with_trade']} had an ungated "
            f"trade: win rate {_num(r['win_rate'] and 100 * r['win_rate'], '{:.1f}')} % vs "
            f"{_num(a['win_rate'] and 100 * a['win_rate'], '{:.1f}')} % among approved; net value "
            f"of the refused set {s['refused_net_value_abs']:+.4f} "
            f"({refused_set_meaning(s['refused_net_value_abs'])})"
        )
        lines.append(
            f"  verdict exits: {s['verdict_exits']} ({s['verdict_exits_matched']} comparable), "
            f"{s['exit_value_abs']:+.4f} vs the strategy's own exits"
        )
        wins = [w for w in gate["windows"] if w["vs_random"]["estimate"] > 0]
        if gate["windows"]:
            lines.append(
                f"  windows: the gate beat random in {len(wins)} of {len(gate['windows'])}"
            )
        for row in gate["regimes"]:
            key = next((k for k in row if k.startswith("gated_minus_random")), None)
            if key:
                lines.append(
                    f"  regime {row['regime']}={row['value']} ({row['days']} days): gate - random "
                    f"{_interval(row[key])}"
                )
    cert = result.get("certificate")
    lines.append("")
    lines += summary_lines(result)
    if cert is None:
        lines.append("leakage certificate: not run (--no-certificate)")
    elif "error" in cert:
        lines.append(f"leakage certificate: FAILED TO RUN ({cert['error']})")
    else:
        look = cert["lookahead"]
        worst = max((c["max_relative_difference"] for c in cert["recursive"]), default=0.0)
        lines.append(
            f"leakage certificate: {'PASSED' if cert['passed'] else 'FAILED'} — lookahead "
            f"{look['signals_checked']} of {look['signals_in_period']} entry signals checked, "
            f"{look['biased_entry_signals']} biased entries, {look['biased_exit_signals']} biased "
            f"exits, biased indicators: {', '.join(look['biased_indicators']) or 'none'}; "
            f"recursive max difference {100 * worst:.4f} % over {len(cert['recursive'])} pairs; "
            f"data {cert['data_sha256'][:12]}, code {cert['code']['git']}"
        )
    for warning in result.get("warnings", []):
        lines.append(f"WARNING: {warning}")
    lines.append(f"report: {result['files']['html']}")
    lines.append(f"time: {result['run']['total_seconds']:.1f} s")
    lines.append("=" * 72)
    for verdict in result["verdicts"]:
        lines.append(verdict)
    return "\n".join(lines)
