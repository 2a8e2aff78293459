"""Critical errors stop a bot through the fleet kill switch, with an alert, once per error."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest
import redis

from context_service.alerts import AlertSink
from context_service.dashboard.monitor import FleetMonitor
from context_service.fleet.botapi import LogLine
from context_service.fleet.model import load_fleet
from context_service.keys import Keyspace
from context_service.risk.critical import (
    AutoStopPolicy,
    CriticalKind,
    critical_line,
    report_critical,
)
from context_service.settings import Settings
from dashboard.fakebot import PASSWORD, USERNAME, FakeBot


@pytest.fixture
def sink(redis_client: redis.Redis, keyspace: Keyspace) -> AlertSink:
    return AlertSink(Settings(), redis_client, keyspace)


def _monitor(fleet_file, sink: AlertSink, **policy) -> FleetMonitor:
    return FleetMonitor(
        load_fleet(fleet_file).bots,
        sink,
        "http://127.0.0.1:{port}",
        USERNAME,
        PASSWORD,
        auto_stop=AutoStopPolicy(**policy),
    )


def _row(ms: float, logger: str, level: str, message: str) -> list:
    return ["2026-11-21 05:00:00", ms, logger, level, message]


def _stops(sink: AlertSink) -> list:
    return [a for a in sink.active() if ":auto-stopped:" in a.key]


def test_repeated_exchange_errors_pause_the_bot_once(fleet_file, sink, fake_bots) -> None:
    now = time.time() * 1000
    beta: FakeBot = fake_bots["beta"]
    beta.log_rows = [
        _row(now - 5_000 * k, "freqtrade.exchange.common", "ERROR", "InvalidOrder: rejected")
        for k in range(4)
    ]
    monitor = _monitor(fleet_file, sink, exchange_errors=5, window_s=900)
    monitor.poll_once()
    assert beta.state == "running" and not _stops(sink)  # four are not yet "repeated"
    beta.log_rows.append(_row(now, "freqtrade.freqtradebot", "ERROR", "ExchangeError: 500"))
    monitor.poll_once()
    assert beta.state == "paused"
    (alert,) = _stops(sink)
    assert alert.bot_id == "beta" and alert.level == "critical"
    assert "exchange_errors" in alert.message and "5 exchange errors in 15 minutes" in alert.message
    assert "paused through the kill switch" in alert.message
    assert fake_bots["alpha"].state == "running"  # only the failing bot
    # the operator resumes it: the same lines do not stop it again, a new error does
    beta.state = "running"
    monitor.poll_once()
    assert beta.state == "running"
    beta.log_rows.append(
        _row(now + 1_000, "ctx", "CRITICAL", critical_line(CriticalKind.ledger_unreachable, "x"))
    )
    monitor.poll_once()
    assert beta.state == "paused" and len(_stops(sink)) == 2


def test_a_marked_critical_line_stops_at_once(fleet_file, sink, fake_bots) -> None:
    beta = fake_bots["beta"]
    line = critical_line(CriticalKind.budget_guard_breach, "exposure 101.2 > budget 100\n")
    beta.log_rows = [_row(time.time() * 1000, "ContextGatedStrategy", "CRITICAL", line)]
    _monitor(fleet_file, sink).poll_once()
    (alert,) = _stops(sink)
    assert beta.state == "paused"
    assert "budget_guard_breach" in alert.message and "exposure 101.2 > budget 100" in alert.message


def test_a_failed_kill_switch_says_so(fleet_file, sink, fake_bots) -> None:
    from context_service.fleet.killswitch import SwitchResult

    beta = fake_bots["beta"]
    line = critical_line(CriticalKind.ledger_unreachable, "ledger: ConnectionError")
    beta.log_rows = [_row(time.time() * 1000, "ctx", "CRITICAL", line)]
    monitor = FleetMonitor(
        load_fleet(fleet_file).bots,
        sink,
        "http://127.0.0.1:{port}",
        USERNAME,
        PASSWORD,
        auto_stop=AutoStopPolicy(),
        switch=lambda bot_id, *rest: SwitchResult(bot_id, False, "failed: ReadTimeout"),
    )
    monitor.poll_once()
    (alert,) = _stops(sink)
    assert "kill switch FAILED (failed: ReadTimeout): pause it by hand" in alert.message


def test_without_a_policy_nothing_is_stopped(fleet_file, sink, fake_bots) -> None:
    beta = fake_bots["beta"]
    line = critical_line(CriticalKind.ledger_unreachable, "x")
    beta.log_rows = [_row(time.time() * 1000, "ctx", "CRITICAL", line)]
    monitor = FleetMonitor(
        load_fleet(fleet_file).bots, sink, "http://127.0.0.1:{port}", USERNAME, PASSWORD
    )
    monitor.poll_once()
    assert beta.state == "running" and not _stops(sink)


NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def _line(seconds_ago: float, level: str, message: str, logger: str = "x") -> LogLine:
    return LogLine(
        at_ms=(NOW.timestamp() - seconds_ago) * 1000, level=level, logger=logger, message=message
    )


def test_policy_ignores_old_errors_info_lines_and_unmarked_criticals() -> None:
    policy = AutoStopPolicy(exchange_errors=3, window_s=60)
    lines = [
        _line(600, "ERROR", "ExchangeError a"),
        _line(500, "ERROR", "ExchangeError b"),
        _line(10, "WARNING", "ExchangeError c"),
        _line(5, "ERROR", "ExchangeError d"),
        _line(4, "CRITICAL", "something else entirely"),
        _line(3, "CRITICAL", "CRITICAL-STOP [no_such_kind] nope"),
        _line(2, "ERROR", critical_line(CriticalKind.ledger_unreachable, "not critical level")),
    ]
    assert policy.stop_reason(lines, NOW) is None
    lines.append(_line(1, "ERROR", "x", logger="freqtrade.exchange.exchange"))
    lines.append(_line(0, "ERROR", "InsufficientFunds"))
    reason = policy.stop_reason(lines, NOW)
    assert reason is not None and reason.kind is CriticalKind.exchange_errors


def test_hostile_details_become_one_bounded_line(caplog) -> None:
    log = logging.getLogger("test.critical")
    with caplog.at_level(logging.CRITICAL, logger="test.critical"):
        message = report_critical(log, CriticalKind.budget_guard_breach, "a\nb\x00\r" + "z" * 9999)
    assert not any(ch in message for ch in "\n\r\x00") and len(message) < 600
    assert caplog.records[0].levelno == logging.CRITICAL
    reason = AutoStopPolicy().stop_reason([_line(0, "CRITICAL", message)], NOW)
    assert reason is not None and reason.kind is CriticalKind.budget_guard_breach
