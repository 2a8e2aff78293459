"""Daily limits stop new entries for the rest of the UTC day, and only that day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from context_service.risk.daily import DailyLimits, DailyRiskLedger

DAY = datetime(2022, 5, 9, 10, 0, tzinfo=UTC)


def test_trade_limit_blocks_until_the_next_utc_day() -> None:
    ledger = DailyRiskLedger(DailyLimits(max_entries=2))
    ledger.record_entry(DAY)
    assert ledger.gate(DAY).allowed
    ledger.record_entry(DAY + timedelta(hours=1))
    decision = ledger.gate(DAY + timedelta(hours=13, minutes=59))
    assert not decision.allowed and "daily trade limit" in decision.reason
    assert ledger.gate(datetime(2022, 5, 10, 0, 0, tzinfo=UTC)).allowed


def test_loss_limit_blocks_after_realized_losses_and_counts_wins() -> None:
    ledger = DailyRiskLedger(DailyLimits(max_loss=5.0))
    ledger.record_realized(DAY, -3.0)
    assert ledger.gate(DAY).allowed
    ledger.record_realized(DAY, +1.0)
    ledger.record_realized(DAY, -3.0)
    decision = ledger.gate(DAY)
    assert not decision.allowed and "daily loss limit" in decision.reason
    assert ledger.gate(DAY + timedelta(days=1)).allowed


def test_days_are_utc_days_whatever_the_timezone() -> None:
    ledger = DailyRiskLedger(DailyLimits(max_entries=1))
    # 23:30 in UTC-5 on May 8 is 04:30 UTC on May 9
    ledger.record_entry(datetime(2022, 5, 8, 23, 30, tzinfo=timezone(timedelta(hours=-5))))
    assert not ledger.gate(DAY).allowed


def test_zero_disables_limits_and_naive_times_are_refused() -> None:
    ledger = DailyRiskLedger(DailyLimits())
    for _ in range(100):
        ledger.record_entry(DAY)
    ledger.record_realized(DAY, -1e6)
    assert ledger.gate(DAY).allowed
    with pytest.raises(ValueError, match="naive"):
        ledger.gate(datetime(2022, 5, 9))
    with pytest.raises(ValueError):
        DailyLimits(max_loss=-1)


def test_prune_forgets_old_days() -> None:
    ledger = DailyRiskLedger(DailyLimits(max_entries=1))
    ledger.record_entry(DAY)
    ledger.prune(keep_after=(DAY + timedelta(days=1)).date())
    assert ledger.gate(DAY).allowed
