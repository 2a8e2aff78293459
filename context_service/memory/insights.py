"""Insights: patterns in a bot's closed trades, turned into ``Insight`` knowledge objects.

Trades are replayed in close-time order. An insight becomes true at the close of the trade
that made its condition hold and is dated there (``observed_at``), so an as-of query never sees
it early. Its summary and metrics are the numbers *at that moment* (nothing from its future).
If the condition stops holding, ``valid_until`` is set to the close that broke it; if it holds
again later, the insight restarts from that close. Ids are stable, so a refresh upserts.

Patterns (each needs ``min_trades`` in its sample):

* ``insight:pair:<PAIR>:poor-record``        a pair wins < ``poor_win_ratio`` and loses money
* ``insight:hour:<HH>:poor-record``          same for the UTC hour of entry
* ``insight:confidence:low:underperforming`` entries below ``low_confidence`` lose money on
  average and do worse than the confident ones
* ``insight:exit-reason:<REASON>:dominates-losses``  one exit reason carries at least
  ``loss_share`` of all money lost (and at least ``min_trades`` losses overall)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from context_service.models import Insight, Provenance, Severity

from .models import ClosedTrade

UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._@-]+")


@dataclass(frozen=True)
class InsightRules:
    """Thresholds of the insight patterns."""

    min_trades: int = 10
    poor_win_ratio: float = 0.4
    low_confidence: float = 0.7
    loss_share: float = 0.5


@dataclass
class _Tally:
    trades: int = 0
    wins: int = 0
    net: float = 0.0

    def add(self, profit: float) -> None:
        self.trades += 1
        self.wins += profit > 0
        self.net += profit

    @property
    def win_ratio(self) -> float:
        return self.wins / self.trades if self.trades else 0.0

    @property
    def avg(self) -> float:
        return self.net / self.trades if self.trades else 0.0


@dataclass
class _Finding:
    """What a pattern says while it holds (numbers at the moment it became true)."""

    summary: str
    tags: dict[str, str]
    metrics: dict[str, float]
    severity: Severity = Severity.medium


@dataclass
class _Track:
    since: datetime | None = None
    until: datetime | None = None
    finding: _Finding | None = None


def _id_part(text: str) -> str:
    return UNSAFE_ID_CHARS.sub("-", text).strip("-") or "unknown"


def _poor(tally: _Tally, rules: InsightRules) -> bool:
    return (
        tally.trades >= rules.min_trades
        and tally.win_ratio < rules.poor_win_ratio
        and tally.net < 0
    )


def _record_metrics(tally: _Tally) -> dict[str, float]:
    return {"trades": tally.trades, "win_ratio": round(tally.win_ratio, 4), "net_pnl": tally.net}


class _Detector:
    def __init__(self, rules: InsightRules) -> None:
        self.rules = rules
        self.tracks: dict[str, _Track] = defaultdict(_Track)
        self.pairs: dict[str, _Tally] = defaultdict(_Tally)
        self.hours: dict[int, _Tally] = defaultdict(_Tally)
        self.low, self.high = _Tally(), _Tally()
        self.loss_by_reason: dict[str, float] = defaultdict(float)
        self.losses = 0
        self.loss_total = 0.0

    def _set(self, insight_id: str, finding: _Finding | None, at: datetime) -> None:
        track = self.tracks[insight_id]
        holding = track.since is not None and track.until is None
        if finding is not None and not holding:
            track.since, track.until, track.finding = at, None, finding
        elif finding is None and holding:
            if at > track.since:  # type: ignore[operator]
                track.until = at
            else:  # true and false within one close time: it never held
                track.since, track.finding = None, None

    def add(self, trade: ClosedTrade) -> None:
        rules, at, profit = self.rules, trade.close_time, trade.net_profit
        pair = self.pairs[trade.pair]
        pair.add(profit)
        self._set(
            f"insight:pair:{_id_part(trade.pair)}:poor-record",
            _Finding(
                f"{trade.pair} has a poor record: {pair.wins} wins in {pair.trades} trades "
                f"({pair.win_ratio:.0%}), net {pair.net:+.2f}.",
                {"category": "memory", "pattern": "pair", "pair": trade.pair},
                _record_metrics(pair),
                Severity.high if pair.win_ratio < rules.poor_win_ratio / 2 else Severity.medium,
            )
            if _poor(pair, rules)
            else None,
            at,
        )
        hour = self.hours[trade.entry_hour]
        hour.add(profit)
        label = f"{trade.entry_hour:02d}"
        self._set(
            f"insight:hour:{label}:poor-record",
            _Finding(
                f"Entries at {label}:00-{label}:59 UTC have a poor record: {hour.wins} wins in "
                f"{hour.trades} trades ({hour.win_ratio:.0%}), net {hour.net:+.2f}.",
                {"category": "memory", "pattern": "hour", "hour": label},
                _record_metrics(hour),
            )
            if _poor(hour, rules)
            else None,
            at,
        )
        if trade.confidence is not None:
            (self.low if trade.confidence < rules.low_confidence else self.high).add(profit)
            self._check_confidence(at)
        if profit < 0:
            self.losses += 1
            self.loss_total += -profit
            self.loss_by_reason[trade.exit_reason or "unknown"] += -profit
            self._check_exit_reasons(at)

    def _check_confidence(self, at: datetime) -> None:
        rules, low, high = self.rules, self.low, self.high
        holds = (
            low.trades >= rules.min_trades
            and high.trades >= rules.min_trades
            and low.avg < 0
            and low.avg < high.avg
        )
        self._set(
            "insight:confidence:low:underperforming",
            _Finding(
                f"Entries with verdict confidence below {rules.low_confidence} underperform: "
                f"avg {low.avg:+.3f} per trade over {low.trades} trades vs {high.avg:+.3f} over "
                f"{high.trades} more confident ones.",
                {"category": "memory", "pattern": "confidence"},
                {
                    "low_trades": low.trades,
                    "low_avg_net": low.avg,
                    "high_trades": high.trades,
                    "high_avg_net": high.avg,
                    "threshold": rules.low_confidence,
                },
            )
            if holds
            else None,
            at,
        )

    def _check_exit_reasons(self, at: datetime) -> None:
        rules = self.rules
        for reason, lost in self.loss_by_reason.items():
            share = lost / self.loss_total if self.loss_total else 0.0
            holds = self.losses >= rules.min_trades and share >= rules.loss_share
            self._set(
                f"insight:exit-reason:{_id_part(reason)}:dominates-losses",
                _Finding(
                    f"Exit reason '{reason}' accounts for {share:.0%} of money lost "
                    f"({lost:.2f} of {self.loss_total:.2f} over {self.losses} losing trades).",
                    {"category": "memory", "pattern": "exit-reason", "exit_reason": reason},
                    {"loss_share": round(share, 4), "lost": lost, "losing_trades": self.losses},
                )
                if holds
                else None,
                at,
            )


def _confidence(metrics: dict[str, float]) -> float:
    """More evidence, more confidence: 0.5 at 10 trades, capped at 0.9."""
    sample = metrics.get("trades") or metrics.get("low_trades") or metrics.get("losing_trades")
    return min(0.9, 0.3 + 0.02 * float(sample or 0))


class InsightTracker:
    """The insight fold over a bot's closed trades, fed one trade at a time.

    Fed in close-time order (then trade id), it gives exactly what :func:`detect_insights`
    gives for the same trades, at the cost of the new trades only: the sidecar refreshes
    insights after every close without re-reading the trades before it.
    """

    def __init__(self, bot_id: str, rules: InsightRules | None = None) -> None:
        self.bot_id = bot_id
        self._detector = _Detector(rules or InsightRules())
        self.count = 0
        self.last: tuple[datetime, str] | None = None  # (close time, trade id) of the last add

    def accepts(self, trade: ClosedTrade) -> bool:
        """Whether ``trade`` comes after everything added so far (else: start over)."""
        return self.last is None or (trade.close_time, trade.trade_id) > self.last

    def add(self, trade: ClosedTrade) -> None:
        if not self.accepts(trade):
            raise ValueError("trades must be added in close-time order")
        self._fold(trade)

    def _fold(self, trade: ClosedTrade) -> None:
        self._detector.add(trade)
        self.count += 1
        self.last = (trade.close_time, trade.trade_id)

    def insights(self) -> list[Insight]:
        """The insights as of the last trade added; ended ones carry ``valid_until``."""
        insights = []
        for insight_id, track in sorted(self._detector.tracks.items()):
            if track.since is None or track.finding is None:
                continue
            finding = track.finding
            insights.append(
                Insight(
                    id=insight_id,
                    summary=finding.summary,
                    tags=dict(finding.tags),
                    provenance=Provenance(source="trade-memory", reference=f"bot:{self.bot_id}"),
                    observed_at=track.since,
                    valid_until=track.until,
                    severity=finding.severity,
                    confidence=_confidence(finding.metrics),
                    metrics=dict(finding.metrics),
                )
            )
        return insights


def detect_insights(
    trades: Sequence[ClosedTrade], bot_id: str, rules: InsightRules | None = None
) -> list[Insight]:
    """Insights found in ``trades`` (sorted by close time); ended ones carry ``valid_until``."""
    tracker = InsightTracker(bot_id, rules)
    for trade in trades:
        tracker._fold(trade)  # the caller's order, as given
    return tracker.insights()
