"""Alerts: de-duplicated in Redis, logged, sent to a webhook; webhook failures never raise."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx
from verdicts.support import make_settings

from context_service.alerts import AlertSink

HOOK = "https://hooks.example.test/ctx"
TELEGRAM = "https://api.telegram.org/bot123:ABC/sendMessage?chat_id=-1001"


def sink(redis_client, keyspace, url: str | None) -> AlertSink:
    return AlertSink(make_settings(alert_webhook_url=url), redis_client, keyspace)


def test_an_alert_fires_once_until_resolved(redis_client, keyspace, caplog) -> None:
    alerts = sink(redis_client, keyspace, None)
    with caplog.at_level(logging.WARNING, logger="context_service.alerts"):
        assert alerts.fire("cap:x", "warning", "cap at 80%", bot_id="bot-1") is True
        assert alerts.fire("cap:x", "warning", "cap at 80%", bot_id="bot-1") is False
    assert len(caplog.records) == 1
    logged = json.loads(caplog.records[0].getMessage())
    assert logged["event"] == "alert" and logged["key"] == "cap:x" and logged["bot_id"] == "bot-1"
    assert [a.key for a in alerts.active()] == ["cap:x"]

    assert alerts.resolve("cap:x") is True
    assert alerts.active() == []
    assert alerts.fire("cap:x", "warning", "again") is True


def test_generic_webhook_gets_the_alert_as_json(redis_client, keyspace) -> None:
    with respx.mock() as mock:
        hook = mock.post(HOOK).mock(return_value=httpx.Response(204))
        sink(redis_client, keyspace, HOOK).fire(
            "breaker:bot-1", "warning", "breaker open", bot_id="bot-1", data={"reason": "timeout"}
        )
    body = json.loads(hook.calls.last.request.content)
    assert body["key"] == "breaker:bot-1" and body["level"] == "warning"
    assert body["data"] == {"reason": "timeout"} and body["source"] == "context-service"


def test_telegram_url_gets_a_send_message_body(redis_client, keyspace) -> None:
    with respx.mock() as mock:
        hook = mock.post(url__startswith="https://api.telegram.org/").mock(
            return_value=httpx.Response(200, json={"ok": True})
        )
        sink(redis_client, keyspace, TELEGRAM).fire("cap:y", "critical", "cap reached", "bot-2")
    body = json.loads(hook.calls.last.request.content)
    assert body == {
        "chat_id": "-1001",
        "text": "[CRITICAL] cap reached (bot bot-2)",
        "disable_web_page_preview": True,
    }


@pytest.mark.parametrize("failure", [httpx.Response(500), httpx.ConnectError("down")])
def test_webhook_failure_is_logged_not_raised(redis_client, keyspace, caplog, failure) -> None:
    with respx.mock() as mock:
        route = mock.post(url__startswith="https://api.telegram.org/")
        if isinstance(failure, Exception):
            route.mock(side_effect=failure)
        else:
            route.mock(return_value=failure)
        with caplog.at_level(logging.ERROR, logger="context_service.alerts"):
            fired = sink(redis_client, keyspace, TELEGRAM).fire("cap:z", "warning", "m")
    assert fired is True
    [record] = [r for r in caplog.records if "alert_webhook_failed" in r.getMessage()]
    assert "ABC" not in record.getMessage()  # the bot token in the URL is never logged
