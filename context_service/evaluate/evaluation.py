"""Turn the variants' runs into the evaluation's figures (one JSON-ready dict).

Names: ``ungated``, ``gated:<provider>``, ``random~<provider>#<seed>`` (the random gate matched
to that provider's approval rates), ``random~<provider>`` (the seeds' mean), ``hold:<pair>``,
``hold:basket``, ``hold:BTC/USDT``. Percentage points (pts) are of the starting wallet.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import pandas as pd

from context_service.evaluate import compare, holding, metrics, regimes
from context_service.evaluate.runner import SharedBacktest, VariantRun
from context_service.evaluate.shadow import shadow_outcomes

BTC = "BTC/USDT"


@dataclass
class Series:
    """One variant on the daily grid."""

    name: str
    kind: str
    pnl: pd.Series  # quote currency per day, net of fees and LLM cost
    equity: pd.Series
    figures: metrics.VariantFigures


def _from_run(run: VariantRun, days: pd.DatetimeIndex, shared: SharedBacktest) -> Series:
    costs = [(r.candle, r.cost_usd) for r in run.verdicts if r.cost_usd]
    pnl = metrics.daily_pnl(run.trades, days, costs)
    equity = shared.wallet + pnl.cumsum()
    fig = metrics.figures(
        run.variant.name,
        run.variant.kind,
        run.trades,
        equity,
        shared.wallet,
        start=shared.start,
        end=shared.end,
        llm_cost=run.llm_cost,
        llm_tokens=run.llm_tokens,
    )
    return Series(run.variant.name, run.variant.kind, pnl, equity, fig)


def _hold(name: str, equity: pd.Series, trades: list[dict], shared: SharedBacktest) -> Series:
    pnl = equity.diff().fillna(equity.iloc[0] - shared.wallet)
    fig = metrics.figures(
        name, "hold", trades, equity, shared.wallet, start=shared.start, end=shared.end
    )
    fig.exposure_pct = 100.0
    return Series(name, "hold", pnl, equity, fig)


def _aggregate(name: str, members: list[Series], shared: SharedBacktest) -> dict[str, Any]:
    """Mean, min and max of each figure over the random seeds."""
    out: dict[str, Any] = {"name": name, "kind": "random", "seeds": len(members)}
    fields = [
        "trades",
        "win_rate",
        "profit_abs",
        "profit_pct",
        "fees_abs",
        "max_drawdown_pct",
        "sharpe",
        "sortino",
        "profit_factor",
        "exposure_pct",
        "llm_cost_usd",
        "llm_tokens",
    ]
    for field_name in fields:
        values = [getattr(m.figures, field_name) for m in members]
        values = [float(v) for v in values if v is not None and v != float("inf")]
        if not values:
            out[field_name] = None
            continue
        out[field_name] = {
            "mean": round(statistics.fmean(values), 4),
            "min": round(min(values), 4),
            "max": round(max(values), 4),
        }
    return out


def build(
    shared: SharedBacktest,
    runs: list[VariantRun],
    btc: pd.DataFrame,
    *,
    windows: str,
    fee: float,
) -> tuple[dict[str, Any], dict[str, Series]]:
    """The evaluation's figures and the daily series behind them (for the plots)."""
    days = metrics.day_index(shared.start, shared.end)
    series: dict[str, Series] = {}
    by_name = {run.variant.name: run for run in runs}
    for run in runs:
        series[run.variant.name] = _from_run(run, days, shared)

    ungated = next(r for r in runs if r.variant.kind == "ungated")
    gated_runs = [r for r in runs if r.variant.kind == "gated"]
    random_groups: dict[str, list[VariantRun]] = {}
    for run in runs:
        if run.variant.kind == "random":
            random_groups.setdefault(run.variant.name.split("#")[0], []).append(run)

    random_summary = []
    for group, members in random_groups.items():
        member_series = [series[m.variant.name] for m in members]
        pnl = sum((s.pnl for s in member_series[1:]), member_series[0].pnl) / len(members)
        equity = shared.wallet + pnl.cumsum()
        mean_fig = metrics.figures(
            group, "random-mean", [], equity, shared.wallet, start=shared.start, end=shared.end
        )
        series[group] = Series(group, "random-mean", pnl, equity, mean_fig)
        random_summary.append(_aggregate(group, member_series, shared))

    # Buy-and-hold controls.
    hold_names = []
    candles = {pair: shared.candles(pair) for pair in shared.pairs}
    for pair, frame in candles.items():
        name = f"hold:{pair}"
        equity = holding.hold_equity(frame, shared.wallet, fee, days)
        series[name] = _hold(name, equity, [holding.hold_trade(frame, shared.wallet, fee)], shared)
        hold_names.append(name)
    basket = holding.basket_equity(candles, shared.wallet, fee, days)
    share = shared.wallet / len(candles)
    basket_trades = [holding.hold_trade(f, share, fee) for f in candles.values()]
    series["hold:basket"] = _hold("hold:basket", basket, basket_trades, shared)
    btc_period = (
        btc if btc.empty else btc[(btc["date"] >= shared.start) & (btc["date"] <= shared.end)]
    )
    if f"hold:{BTC}" not in series and not btc_period.empty:
        equity = holding.hold_equity(btc_period, shared.wallet, fee, days)
        trade = holding.hold_trade(btc_period, shared.wallet, fee)
        series[f"hold:{BTC}"] = _hold(f"hold:{BTC}", equity, [trade], shared)
    hold_names.append("hold:basket")
    if f"hold:{BTC}" in series and f"hold:{BTC}" not in hold_names:
        hold_names.append(f"hold:{BTC}")

    daily_pts = {name: 100 * s.pnl / shared.wallet for name, s in series.items()}
    btc_regimes = regimes.btc_regimes(btc, days)

    gates = []
    for gated in gated_runs:
        gname = gated.variant.name
        provider = gated.variant.provider or ""
        rname = f"random~{provider}"
        entry = {
            "gated": gname,
            "random": rname,
            "entry_approval_rate": gated.approval_rate("entry"),
            "exit_approval_rate": gated.approval_rate("exit"),
            "random_entry_rates": [
                by_name[m.variant.name].approval_rate("entry") for m in random_groups.get(rname, [])
            ],
            "vs_ungated": compare.block_bootstrap(
                (daily_pts[gname] - daily_pts["ungated"]).to_numpy()
            ).as_dict(),
            "shadow": shadow_outcomes(gated, ungated, shared.timeframe).as_dict(),
            "windows": [],
            "regimes": [],
        }
        others = ["ungated"]
        if rname in series:
            entry["vs_random"] = compare.block_bootstrap(
                (daily_pts[gname] - daily_pts[rname]).to_numpy()
            ).as_dict()
            entry["windows"] = compare.windows_table(
                {k: daily_pts[k] for k in (gname, "ungated", rname)},
                gname,
                rname,
                "ungated",
                windows,
            )
            others.append(rname)
        entry["regimes"] = regimes.regime_table(
            btc_regimes, {k: daily_pts[k] for k in (gname, *others)}, gname, others
        )
        gates.append(entry)

    result = {
        "period": {
            "start": shared.start.isoformat(),
            "end": shared.end.isoformat(),
            "days": len(days),
            "timeframe": shared.timeframe,
            "pairs": shared.pairs,
            "wallet": shared.wallet,
            "fee": fee,
        },
        "variants": [
            series[r.variant.name].figures.as_dict() | {"seconds": round(r.seconds, 2)}
            for r in runs
        ],
        "random_summary": random_summary,
        "holds": [series[name].figures.as_dict() for name in hold_names],
        "gates": gates,
        "bootstrap": {
            "unit": "day",
            "block_days": compare.BLOCK_DAYS,
            "resamples": compare.RESAMPLES,
            "seed": compare.BOOTSTRAP_SEED,
        },
        "regime_days": {
            column: btc_regimes[column].value_counts().to_dict()
            for column in ("trend", "volatility")
        },
    }
    return result, series


def verdict_line(gate: dict[str, Any]) -> str:
    """``gate vs random: -8.2 pts [-14.1, -2.3] — the gate removes value on this data``."""
    comparison = gate.get("vs_random") or gate["vs_ungated"]
    against = "random" if gate.get("vs_random") else "ungated"
    c = comparison
    if c["low"] > 0:
        reading = "the gate adds value on this data"
    elif c["high"] < 0:
        reading = "the gate removes value on this data"
    else:
        reading = "no evidence the gate adds or removes value on this data"
    return (
        f"{gate['gated']} vs {against}: {c['estimate']:+.1f} pts "
        f"[{c['low']:+.1f}, {c['high']:+.1f}] — {reading}"
    )
