"""Daily limits: after too many entries or too large a realized loss, no new entries today.

Days are UTC calendar days. The ledger is fed by the strategy (an entry was confirmed, an exit
filled with this realized profit) and is rebuilt from the trade database when a bot restarts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from context_service.risk.refusals import Refusal


@dataclass(frozen=True, slots=True)
class DailyLimits:
    """``max_entries``: entries per UTC day (0 = no limit).
    ``max_loss``: realized loss per UTC day in quote currency, a positive number (0 = no limit).
    """

    max_entries: int = 0
    max_loss: float = 0.0

    def __post_init__(self) -> None:
        if self.max_entries < 0:
            raise ValueError("max_entries must be >= 0 (0 disables the limit)")
        if self.max_loss < 0:
            raise ValueError("max_loss is a positive amount of quote currency (0 disables it)")


@dataclass(frozen=True, slots=True)
class GateDecision:
    allowed: bool
    reason: str  # a human detail line
    refusal: Refusal | None = None  # the category when not allowed


def utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware UTC time")
    return moment.astimezone(UTC).date()


@dataclass
class DailyRiskLedger:
    limits: DailyLimits
    entries: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    realized: dict[date, float] = field(default_factory=lambda: defaultdict(float))

    def record_entry(self, moment: datetime) -> None:
        self.entries[utc_day(moment)] += 1

    def record_realized(self, moment: datetime, profit: float) -> None:
        self.realized[utc_day(moment)] += profit

    def gate(self, moment: datetime) -> GateDecision:
        day = utc_day(moment)
        count = self.entries.get(day, 0)
        if self.limits.max_entries and count >= self.limits.max_entries:
            return GateDecision(
                False,
                f"daily trade limit: {count} entries today (max {self.limits.max_entries})",
                Refusal.daily_trade_limit,
            )
        pnl = self.realized.get(day, 0.0)
        if self.limits.max_loss and pnl <= -self.limits.max_loss:
            return GateDecision(
                False,
                f"daily loss limit: realized {pnl:.4f} today (limit -{self.limits.max_loss:g})",
                Refusal.daily_loss_limit,
            )
        return GateDecision(True, "within daily limits")

    def prune(self, keep_after: date) -> None:
        """Forget days before ``keep_after`` (long runs stay small)."""
        for book in (self.entries, self.realized):
            for day in [d for d in book if d < keep_after]:
                del book[day]
