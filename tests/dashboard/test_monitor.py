"""The monitor raises de-duplicated alerts (log + webhook) and clears them on recovery."""

from __future__ import annotations

import json

import httpx
import pytest
import redis
import respx

from context_service.alerts import AlertSink
from context_service.dashboard.monitor import FleetMonitor
from context_service.fleet.model import load_fleet
from context_service.keys import Keyspace
from context_service.settings import Settings
from dashboard.fakebot import PASSWORD, USERNAME, FakeBot

WEBHOOK = "https://hooks.example.test/alerts"


@pytest.fixture
def sink(redis_client: redis.Redis, keyspace: Keyspace) -> AlertSink:
    return AlertSink(Settings(alert_webhook_url=WEBHOOK), redis_client, keyspace)


def _monitor(fleet_file, sink: AlertSink) -> FleetMonitor:
    fleet = load_fleet(fleet_file)
    return FleetMonitor(
        fleet.bots, sink, "http://127.0.0.1:{port}", USERNAME, PASSWORD, unreachable_after=2
    )


def _keys(sink: AlertSink) -> set[str]:
    return {a.key for a in sink.active()}


@respx.mock
def test_unreachable_bot_alerts_once_after_two_polls(fleet_file, sink: AlertSink) -> None:
    hook = respx.post(WEBHOOK).mock(return_value=httpx.Response(200))
    monitor = _monitor(fleet_file, sink)
    first = monitor.poll_once()
    assert not first["gamma"].reachable and first["alpha"].reachable
    assert _keys(sink) == set()  # one failed poll is not yet an outage
    monitor.poll_once()
    monitor.poll_once()
    assert _keys(sink) == {"bot:gamma:unreachable"}
    assert hook.call_count == 1  # de-duplicated: one message for a lasting outage
    body = json.loads(hook.calls[0].request.content)
    assert body["bot_id"] == "gamma" and body["level"] == "critical"
    assert "unreachable" in body["message"]


@respx.mock
def test_daily_loss_and_stopped_bot_alert_and_recover(
    fleet_file, sink: AlertSink, fake_bots: dict[str, FakeBot]
) -> None:
    respx.post(WEBHOOK).mock(return_value=httpx.Response(200))
    monitor = _monitor(fleet_file, sink)
    fake_bots["beta"].today = -2.4  # within 5 % of 50 USDT
    fake_bots["alpha"].state = "stopped"
    monitor.poll_once()
    assert "bot:alpha:not-running" in _keys(sink)
    assert not any("daily-loss" in k for k in _keys(sink))
    fake_bots["beta"].today = -2.6  # past 2.50
    fake_bots["alpha"].state = "running"
    monitor.poll_once()
    keys = _keys(sink)
    assert "bot:alpha:not-running" not in keys
    (loss,) = [a for a in sink.active() if "daily-loss" in a.key]
    assert loss.bot_id == "beta" and "2.60" in loss.message and "2.50" in loss.message


def test_recovered_bot_clears_its_unreachable_alert(
    fleet_file, sink: AlertSink, fake_bots: dict[str, FakeBot]
) -> None:
    monitor = _monitor(fleet_file, sink)
    alpha = fake_bots["alpha"]
    port = alpha.port
    alpha.stop()
    monitor.poll_once()
    monitor.poll_once()
    assert "bot:alpha:unreachable" in _keys(sink)
    alpha.start(port)  # the bot comes back on its port
    monitor.poll_once()
    assert "bot:alpha:unreachable" not in _keys(sink)
    assert monitor.latest()["alpha"].reachable


def test_each_critical_log_line_alerts_once(
    fleet_file, sink: AlertSink, fake_bots: dict[str, FakeBot]
) -> None:
    import time

    now_ms = time.time() * 1000
    fake_bots["beta"].log_rows = [
        ["2026-11-21 05:00:00", now_ms - 60_000, "freqtrade.worker", "INFO", "heartbeat"],
        ["2026-11-21 05:00:01", now_ms - 50_000, "freqtrade.exchange", "ERROR", "timeout"],
        ["2026-11-21 05:00:02", now_ms - 40_000, "freqtrade.freqtradebot", "CRITICAL", "boom"],
        ["2026-11-20 01:00:00", now_ms - 2 * 86_400_000, "freqtrade", "CRITICAL", "old"],
    ]
    monitor = _monitor(fleet_file, sink)
    status = monitor.poll_once()["beta"]
    assert [p.level for p in status.problems] == ["ERROR", "CRITICAL", "CRITICAL"]
    monitor.poll_once()
    critical = [a for a in sink.active() if ":critical:" in a.key]
    assert len(critical) == 1  # the day-old line is ignored, the new one alerts once
    assert critical[0].bot_id == "beta" and "boom" in critical[0].message


def test_metrics_show_each_bots_reachability_and_daily_loss(
    fleet_file, sink: AlertSink, fake_bots: dict[str, FakeBot], seeded_service
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from context_service.observability import StateCollector

    monitor = _monitor(fleet_file, sink)
    registry = CollectorRegistry()
    registry.register(StateCollector(seeded_service, lambda: monitor))
    before = generate_latest(registry).decode()
    assert 'ctx_bot_up{bot_id="alpha"}' not in before  # not polled yet: no false "down"
    fake_bots["beta"].today = -2.6
    monitor.poll_once()
    text = generate_latest(registry).decode()
    assert 'ctx_bot_up{bot_id="alpha"} 1.0' in text
    assert 'ctx_bot_up{bot_id="gamma"} 0.0' in text
    assert 'ctx_bot_today_profit_usd{bot_id="beta"} -2.6' in text
    assert 'ctx_bot_daily_loss_limit_usd{bot_id="beta"} 2.5' in text
    assert 'ctx_bot_profit_closed_usd{bot_id="alpha"} 3.25' in text
