"""Operator alerts: cost caps at 80/100 %, an open circuit breaker, an unreachable bot...

An alert is identified by a key (``cap:bot:bot-1:2026-11-21:80``). Firing is de-duplicated in
Redis (``Keyspace.alerts``): while an alert is active, firing it again does nothing, so a cap that
stays at 100 % all day sends one message, not one per verdict. Each new alert is written as one
structured log line and, when ``settings.alert_webhook_url`` is set, POSTed to the webhook:
generic JSON, or a Telegram ``sendMessage`` body when the URL is a Telegram bot API URL.
Webhook failures are logged, never raised: an alert must not break a verdict.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import redis
from pydantic import BaseModel, Field

from context_service.keys import Keyspace
from context_service.models import utcnow
from context_service.settings import Settings

log = logging.getLogger("context_service.alerts")
DEFAULT_KEYSPACE = Keyspace()

AlertLevel = Literal["info", "warning", "critical"]
WEBHOOK_TIMEOUT_S = 3.0


class Alert(BaseModel):
    """One active alert."""

    key: str
    level: AlertLevel
    message: str
    bot_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    fired_at: datetime


def is_telegram_url(url: str) -> bool:
    """True for ``https://api.telegram.org/bot<token>/sendMessage[?chat_id=...]``."""
    parts = urlsplit(url)
    return parts.hostname == "api.telegram.org" and parts.path.endswith("/sendMessage")


def webhook_body(url: str, alert: Alert) -> dict[str, Any]:
    """The JSON body for ``url``: Telegram's sendMessage fields, or the alert itself."""
    if is_telegram_url(url):
        chat_id = parse_qs(urlsplit(url).query).get("chat_id", [None])[0]
        text = f"[{alert.level.upper()}] {alert.message}"
        if alert.bot_id:
            text += f" (bot {alert.bot_id})"
        body: dict[str, Any] = {"text": text, "disable_web_page_preview": True}
        if chat_id:
            body["chat_id"] = chat_id
        return body
    return {"source": "context-service", **alert.model_dump(mode="json")}


class AlertSink:
    """Fire, list and resolve de-duplicated alerts."""

    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis,
        keyspace: Keyspace = DEFAULT_KEYSPACE,
        http: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.keyspace = keyspace
        self._http = http

    def fire(
        self,
        key: str,
        level: AlertLevel,
        message: str,
        bot_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """Raise an alert; False (and nothing sent) when it is already active."""
        alert = Alert(
            key=key,
            level=level,
            message=message,
            bot_id=bot_id,
            data=data or {},
            fired_at=utcnow(),
        )
        try:
            is_new = bool(self.redis.hsetnx(self.keyspace.alerts, key, alert.model_dump_json()))
        except redis.RedisError as exc:
            # Without Redis we cannot de-duplicate; still tell the operator through the log.
            log.error(json.dumps({"event": "alert_store_failed", "key": key, "error": str(exc)}))
            is_new = True
        if not is_new:
            return False
        log.warning(json.dumps({"event": "alert", **alert.model_dump(mode="json")}))
        self._send_webhook(alert)
        return True

    def active(self) -> list[Alert]:
        """Every active alert, oldest first."""
        raw = self.redis.hgetall(self.keyspace.alerts)
        alerts = [Alert.model_validate_json(value) for value in raw.values()]
        return sorted(alerts, key=lambda a: (a.fired_at, a.key))

    def is_active(self, key: str) -> bool:
        return bool(self.redis.hexists(self.keyspace.alerts, key))

    def resolve(self, key: str) -> bool:
        """Clear an alert so that it can fire again; True when it was active."""
        resolved = bool(self.redis.hdel(self.keyspace.alerts, key))
        if resolved:
            log.info(json.dumps({"event": "alert_resolved", "key": key}))
        return resolved

    def _send_webhook(self, alert: Alert) -> None:
        url = self.settings.alert_webhook_url
        if not url:
            return
        try:
            client = self._http or httpx.Client(timeout=WEBHOOK_TIMEOUT_S)
            try:
                response = client.post(url, json=webhook_body(url, alert))
                response.raise_for_status()
            finally:
                if self._http is None:
                    client.close()
        except httpx.HTTPError as exc:
            # Never echo the URL: a Telegram URL carries the bot token.
            log.error(
                json.dumps(
                    {"event": "alert_webhook_failed", "key": alert.key, "error": type(exc).__name__}
                )
            )
