"""Shadow outcomes: what the gate's refusals and its exits were worth, measured on trades.

For an entry candidate the gate refused on candle T, the ungated run (same data, same wallet)
may have entered at T + 1 timeframe; that trade and how it ended is the refusal's shadow. The
same for approvals, which gives the gate's precision: the win rate of the ungated trades it
approved against the win rate of those it refused. The net value of the refused set is what
those trades made: negative means the gate removed losers (it helped), positive means it
removed winners.

For exits: a trade the gated run closed on a ``sell`` verdict is compared with the ungated
trade opened on the same candle, which exited by the strategy's own rules (ROI, stop, signal).
Profits are compared as ratios times the gated trade's stake, so slot sizes do not distort it.
Candles where the ungated run had no trade (slots full, a protection, a daily limit) have no
shadow and are counted apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from context_service.evaluate.runner import VariantRun


@dataclass
class SetOutcome:
    """The ungated trades behind one set of gate decisions."""

    decisions: int
    with_trade: int
    wins: int
    profit_abs: float

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.with_trade if self.with_trade else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "win_rate": self.win_rate}


@dataclass
class ShadowReport:
    approved: SetOutcome
    refused: SetOutcome
    refused_trades: list[dict[str, Any]]
    verdict_exits: int
    verdict_exits_matched: int
    verdict_exit_profit_abs: float  # the gated trades' profit on verdict exits
    own_exit_profit_abs: float  # the same trades exited by the strategy's own rules
    exit_rows: list[dict[str, Any]]

    @property
    def refused_net_value(self) -> float:
        """What the refused set made in the ungated run (negative: the gate removed losers)."""
        return self.refused.profit_abs

    @property
    def exit_value(self) -> float:
        """Verdict exits minus the strategy's own exits (positive: verdict exits helped)."""
        return self.verdict_exit_profit_abs - self.own_exit_profit_abs

    def as_dict(self) -> dict[str, Any]:
        return {
            "approved": self.approved.as_dict(),
            "refused": self.refused.as_dict(),
            "refused_net_value_abs": round(self.refused_net_value, 6),
            "refused_trades": self.refused_trades,
            "verdict_exits": self.verdict_exits,
            "verdict_exits_matched": self.verdict_exits_matched,
            "verdict_exit_profit_abs": round(self.verdict_exit_profit_abs, 6),
            "own_exit_profit_abs": round(self.own_exit_profit_abs, 6),
            "exit_value_abs": round(self.exit_value, 6),
            "exit_rows": self.exit_rows,
        }


def _by_entry(trades: Sequence[Mapping[str, Any]]) -> dict[tuple[str, pd.Timestamp], Mapping]:
    return {(t["pair"], pd.Timestamp(t["open_date"])): t for t in trades}


def shadow_outcomes(gated: VariantRun, ungated: VariantRun, timeframe: str) -> ShadowReport:
    from freqtrade.exchange import timeframe_to_seconds

    step = pd.Timedelta(seconds=timeframe_to_seconds(timeframe))
    ungated_by_entry = _by_entry(ungated.trades)
    approved = SetOutcome(0, 0, 0, 0.0)
    refused = SetOutcome(0, 0, 0, 0.0)
    refused_rows: list[dict[str, Any]] = []
    for record in gated.verdicts:
        if record.candidate != "entry":
            continue
        target = approved if gated.approved(record) else refused
        target.decisions += 1
        trade = ungated_by_entry.get((record.pair, record.candle + step))
        if trade is None:
            continue
        profit = float(trade["profit_abs"])
        target.with_trade += 1
        target.wins += profit > 0
        target.profit_abs += profit
        if target is refused:
            refused_rows.append(
                {
                    "pair": record.pair,
                    "candle": record.candle.isoformat(),
                    "verdict": f"{record.action} {record.confidence:.2f}",
                    "ungated_profit_abs": round(profit, 6),
                    "ungated_profit_pct": round(100 * float(trade["profit_ratio"]), 3),
                    "ungated_exit": str(trade.get("exit_reason")),
                }
            )
    exits = [t for t in gated.trades if str(t.get("exit_reason", "")).startswith("verdict_sell")]
    matched = 0
    verdict_total = own_total = 0.0
    exit_rows = []
    for trade in exits:
        shadow = ungated_by_entry.get((trade["pair"], pd.Timestamp(trade["open_date"])))
        if shadow is None:
            continue
        matched += 1
        stake = float(trade["stake_amount"])
        own = float(shadow["profit_ratio"]) * stake
        verdict_total += float(trade["profit_abs"])
        own_total += own
        exit_rows.append(
            {
                "pair": trade["pair"],
                "opened": pd.Timestamp(trade["open_date"]).isoformat(),
                "verdict_exit_pct": round(100 * float(trade["profit_ratio"]), 3),
                "own_exit_pct": round(100 * float(shadow["profit_ratio"]), 3),
                "own_exit": str(shadow.get("exit_reason")),
            }
        )
    return ShadowReport(
        approved=approved,
        refused=refused,
        refused_trades=refused_rows,
        verdict_exits=len(exits),
        verdict_exits_matched=matched,
        verdict_exit_profit_abs=verdict_total,
        own_exit_profit_abs=own_total,
        exit_rows=exit_rows,
    )


def refused_set_meaning(value: float) -> str:
    """What the net value of the refused entries says about the gate, by its sign."""
    if value != value:  # NaN: no refused candle had an ungated trade to compare with
        return "not measured"
    if value > 0:
        return "positive: the gate removed winners"
    if value < 0:
        return "negative: the gate removed losers"
    return "zero: what the gate removed made nothing"
