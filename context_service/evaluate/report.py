"""The self-contained HTML report: plotly's JavaScript is embedded, nothing is fetched."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from context_service.evaluate.shadow import refused_set_meaning

MAX_LISTED_REFUSALS = 60

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.verdict{font-size:17px;font-weight:600;padding:10px;background:#f7f7e8;border:1px solid #dd9}
.bad{color:#b00}.good{color:#070}.note{color:#555;font-size:13px}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e-3 and value else f"{value:,.2f}"
    if isinstance(value, Mapping) and {"mean", "min", "max"} <= set(value):
        return f"{value['mean']:.2f} [{value['min']:.2f}, {value['max']:.2f}]"
    if isinstance(value, Mapping) and {"estimate", "low", "high"} <= set(value):
        return f"{value['estimate']:+.2f} [{value['low']:+.2f}, {value['high']:+.2f}]"
    return _esc(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p class=note>none</p>"
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _figures(result: Mapping[str, Any], series: Mapping[str, Any]) -> list[str]:
    import plotly.graph_objects as go

    shown = {"ungated", "hold:basket", "hold:BTC/USDT"}
    shown |= {g["gated"] for g in result["gates"]} | {g["random"] for g in result["gates"]}
    equity, drawdown = go.Figure(), go.Figure()
    from context_service.evaluate.metrics import drawdown_series

    for name, s in series.items():
        visible = True if name in shown else "legendonly"
        width = 1 if "#" in name else 2
        equity.add_trace(
            go.Scatter(
                x=s.equity.index, y=s.equity.values, name=name, visible=visible,
                line={"width": width},
            )
        )  # fmt: skip
        drawdown.add_trace(
            go.Scatter(
                x=s.equity.index, y=100 * drawdown_series(s.equity).values, name=name,
                visible=visible, line={"width": width},
            )
        )  # fmt: skip
    equity.update_layout(title="Equity (quote currency, net of fees and LLM cost)", height=460)
    drawdown.update_layout(title="Drawdown from running peak (%)", height=360)
    figures = [equity, drawdown]
    for gate in result["gates"]:
        if not gate["windows"]:
            continue
        bars = go.Figure()
        labels = [w["window"] for w in gate["windows"]]
        for key, name in (("vs_ungated", "gate - ungated"), ("vs_random", "gate - random")):
            values = [w[key] for w in gate["windows"]]
            bars.add_trace(
                go.Bar(
                    x=labels,
                    y=[v["estimate"] for v in values],
                    name=name,
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [v["high"] - v["estimate"] for v in values],
                        "arrayminus": [v["estimate"] - v["low"] for v in values],
                    },
                )
            )
        bars.update_layout(
            title=f"{gate['gated']}: difference per window (pts, 95 % bootstrap interval)",
            barmode="group",
            height=380,
        )
        figures.append(bars)
    return [f.to_html(full_html=False, include_plotlyjs=False) for f in figures]


def _gate_section(gate: Mapping[str, Any]) -> str:
    s = gate["shadow"]
    parts = [f"<h2>{_esc(gate['gated'])}: what the gate did</h2>"]
    parts.append(
        table(
            [
                {"comparison": "gate - ungated (pts)", **gate["vs_ungated"]},
                *([{"comparison": "gate - random (pts)", **gate["vs_random"]}]
                  if gate.get("vs_random") else []),
            ],
            ["comparison", "estimate", "low", "high", "share_above_zero", "days"],
        )
    )  # fmt: skip
    parts.append(
        f"<p>Approval rates: entries {_cell(gate['entry_approval_rate'])}, exits "
        f"{_cell(gate['exit_approval_rate'])}; the random gate's realised entry rates: "
        f"{', '.join(f'{r:.3f}' for r in gate['random_entry_rates'] if r is not None) or 'n/a'}"
        "</p>"
    )
    parts.append("<h3>Refusal outcomes (shadow trades of the ungated run)</h3>")
    parts.append(
        table(
            [{"set": "approved", **s["approved"]}, {"set": "refused", **s["refused"]}],
            ["set", "decisions", "with_trade", "wins", "win_rate", "profit_abs"],
        )
    )
    parts.append(
        f"<p>Net value of the refused set: <b>{s['refused_net_value_abs']:+.4f}</b> (what the "
        f"refused candles' ungated trades made; {refused_set_meaning(s['refused_net_value_abs'])})."
        " Verdict "
        f"exits: {s['verdict_exits']} ({s['verdict_exits_matched']} with an ungated twin), worth "
        f"<b>{s['exit_value_abs']:+.4f}</b> against the strategy's own exits.</p>"
    )
    parts.append(table(s["refused_trades"][:MAX_LISTED_REFUSALS]))
    if len(s["refused_trades"]) > MAX_LISTED_REFUSALS:
        parts.append(
            f"<p class=note>{len(s['refused_trades'])} in all (the JSON lists every one)</p>"
        )
    parts.append("<h3>Verdict exits against the strategy's own exits</h3>")
    parts.append(table(s["exit_rows"][:MAX_LISTED_REFUSALS]))
    parts.append("<h3>Walk-forward windows (pts of the wallet)</h3>")
    parts.append(table(gate["windows"]))
    parts.append("<h3>Regimes (BTC, point-in-time)</h3>")
    parts.append(table(gate["regimes"]))
    return "".join(parts)


def _certificate(cert: Mapping[str, Any] | None) -> str:
    if cert is None:
        return "<p class=bad>Not run (--no-certificate): look-ahead was not checked.</p>"
    if "error" in cert:
        return f"<p class=bad>Could not run: {_esc(cert['error'])}</p>"
    look = cert["lookahead"]
    status = "PASSED" if cert["passed"] else "FAILED"
    klass = "good" if cert["passed"] else "bad"
    rows = [
        {"item": "status", "value": status},
        {"item": "entry signals checked", "value": f"{look['signals_checked']} of "
         f"{look['signals_in_period']}"},
        {"item": "biased entry / exit signals", "value": f"{look['biased_entry_signals']} / "
         f"{look['biased_exit_signals']}"},
        {"item": "biased indicators", "value": ", ".join(look["biased_indicators"]) or "none"},
        {"item": "flagged trades", "value": "; ".join(
            f"{t['pair']} {t.get('open_date') or t.get('close_date')}"
            for t in look.get("biased_entries", []) + look.get("biased_exits", [])) or "none"},
        {"item": "data sha256", "value": cert["data_sha256"]},
        {"item": "config sha256", "value": cert["config_sha256"]},
        {"item": "code", "value": f"{cert['code']['git']} (strategy "
         f"{cert['code']['strategy_sha256'][:16]})"},
        {"item": "freqtrade", "value": cert["freqtrade"]},
        {"item": "timerange", "value": cert["timerange"]},
    ]  # fmt: skip
    return (
        f"<p class={klass}><b>{status}</b></p>"
        + table(rows)
        + table(cert["recursive"], ["pair", "startup_candles", "max_relative_difference", "passed"])
    )


def render(result: Mapping[str, Any], series: Mapping[str, Any]) -> str:
    from plotly.offline import get_plotlyjs

    from context_service.evaluate.report_llm import html_section

    period = result["period"]
    verdicts = "".join(f"<div class=verdict>{_esc(v)}</div>" for v in result["verdicts"])
    warnings = "".join(f"<p class=bad>WARNING: {_esc(w)}</p>" for w in result["warnings"])
    randoms = table(result["random_summary"])
    body = [
        f"<h1>Does the gate add value? {_esc(period['start'][:10])} to "
        f"{_esc(period['end'][:10])}</h1>",
        verdicts,
        warnings,
        f"<p class=note>{_esc(period['days'])} days, {_esc(period['timeframe'])}, pairs "
        f"{_esc(', '.join(period['pairs']))}, wallet {_esc(period['wallet'])}, fee "
        f"{100 * period['fee']:.2f} %. {_esc(result['run']['tuning'])}. Profit is net of fees "
        "and LLM cost; pts are percentage points of the starting wallet.</p>",
        "<h2>Variants</h2>",
        table(result["variants"] + result["holds"]),
        "<h3>Random gate over its seeds (mean [min, max])</h3>",
        randoms,
        *_figures(result, series),
        *(_gate_section(g) for g in result["gates"]),
        html_section(result),
        "<h2>Leakage certificate</h2>",
        _certificate(result.get("certificate")),
        "<h2>Run</h2>",
        table([{"item": k, "value": v} for k, v in result["run"].items()]),
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>Gate evaluation</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        + "".join(body)
        + "</body></html>"
    )
