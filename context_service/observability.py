"""State gauges for Prometheus, read when /metrics is scraped.

What the alert rules (docker/prometheus/alerts.yml) and the Grafana dashboard
(docker/grafana/dashboards/context-service.json) are built on:

* ``ctx_redis_up``: 1 when Redis answers a PING (everything else below needs it);
* ``ctx_llm_cap_usd`` / ``ctx_llm_cap_used_usd`` / ``ctx_llm_cap_used_ratio`` by ``cap`` and
  ``bot_id`` (empty for the global caps): spent plus reserved against each hard cap;
* ``ctx_llm_breaker_open`` by ``bot_id``;
* ``ctx_feed_lag_seconds`` and ``ctx_feed_last_received_timestamp_seconds`` by feed ``source``;
* ``ctx_bot_up``, ``ctx_bot_today_profit_usd``, ``ctx_bot_daily_loss_limit_usd``,
  ``ctx_bot_profit_closed_usd`` by ``bot_id`` from the fleet monitor's last poll (it never
  polls on a scrape).

A scrape never fails because one source does: a part that cannot be read is left out, and
``ctx_state_errors`` says which part it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from context_service.redis_text import as_text

log = logging.getLogger(__name__)

MonitorOf = Callable[[], Any]


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class StateCollector(Collector):
    """Reads the service's state (and the fleet monitor's last poll) into gauges."""

    def __init__(self, service: Any, monitor_of: MonitorOf = lambda: None) -> None:
        self.service = service
        self.parts = service.components  # Redis, keyspace, ledger, metrics (composition.py)
        self.monitor_of = monitor_of

    def describe(self) -> list[Metric]:
        return []  # no collect() at registration: Redis may not be up yet

    def collect(self) -> Iterator[Metric]:
        errors = _gauge("ctx_state_errors", "1 for a state part that could not be read", ["part"])
        redis_up = self._redis_up()
        up = _gauge("ctx_redis_up", "1 when Redis answers a PING", [])
        up.add_metric([], 1.0 if redis_up else 0.0)
        yield up
        parts: list[tuple[str, Callable[[], list[Metric]]]] = [
            ("feeds", self._feeds),
            ("bots", self._bots),
        ]
        if redis_up:
            parts = [("caps", self._caps), ("breakers", self._breakers), *parts]
        for part, read in parts:
            try:
                yield from read()
            except Exception as exc:  # one broken source must not break the scrape
                log.warning("metrics: %s not readable: %s", part, exc)
                errors.add_metric([part], 1.0)
        yield errors

    # --- parts ------------------------------------------------------------------------------
    def _redis_up(self) -> bool:
        try:
            return bool(self.parts.redis.ping())
        except Exception:
            return False

    def _now(self) -> datetime:
        """The service's clock (the ledger's periods and the breaker's times follow it)."""
        clock = getattr(self.service, "clock", None)
        return clock() if callable(clock) else datetime.now(UTC)

    def _known_bots(self) -> list[str]:
        members = self.parts.redis.smembers(self.parts.keyspace.bots)
        return sorted(as_text(m) for m in members)

    def _caps(self) -> list[Metric]:
        now = self._now()
        cap = _gauge("ctx_llm_cap_usd", "Hard LLM cost cap in USD (0 = none)", ["cap", "bot_id"])
        used = _gauge(
            "ctx_llm_cap_used_usd", "Spent plus reserved against a cap", ["cap", "bot_id"]
        )
        ratio = _gauge(
            "ctx_llm_cap_used_ratio", "Used share of a cap (1 = reached)", ["cap", "bot_id"]
        )
        rows = [(name, "", row) for name, row in self.parts.ledger.status(None, now).items()]
        rows += [
            ("bot-daily", bot, self.parts.ledger.bot_status(bot, now)) for bot in self._known_bots()
        ]
        for name, bot, row in rows:
            limit = float(row["cap_usd"])
            spent = float(row["spent_usd"]) + float(row["reserved_usd"])
            cap.add_metric([name, bot], limit)
            used.add_metric([name, bot], spent)
            if limit > 0:
                ratio.add_metric([name, bot], spent / limit)
        return [cap, used, ratio]

    def _breakers(self) -> list[Metric]:
        """From the breaker's own Redis hash (``open_until``), whichever process opened it."""
        gauge = _gauge(
            "ctx_llm_breaker_open", "1 while the LLM circuit breaker is open", ["bot_id"]
        )
        bots = self._known_bots()
        pipe = self.parts.redis.pipeline(transaction=False)
        for bot in bots:
            pipe.hget(self.parts.keyspace.bot(bot).breaker, "open_until")
        now = self._now().timestamp()
        for bot, until in zip(bots, pipe.execute(), strict=True):
            gauge.add_metric([bot], 1.0 if float(until or 0) > now else 0.0)
        return [gauge]

    def _feeds(self) -> list[Metric]:
        now = time.time()
        lag = _gauge("ctx_feed_lag_seconds", "Age of the newest evidence of a feed", ["source"])
        seen = _gauge(
            "ctx_feed_last_received_timestamp_seconds",
            "When the sidecar last received evidence from a feed",
            ["source"],
        )
        for source, (newest, received) in sorted(self.parts.metrics.feeds().items()):
            lag.add_metric([source], max(0.0, now - newest))
            seen.add_metric([source], received)
        return [lag, seen]

    def _bots(self) -> list[Metric]:
        up = _gauge("ctx_bot_up", "1 when the bot's REST API answered the last poll", ["bot_id"])
        today = _gauge("ctx_bot_today_profit_usd", "Today's profit (negative: loss)", ["bot_id"])
        limit = _gauge("ctx_bot_daily_loss_limit_usd", "The bot's daily loss limit", ["bot_id"])
        closed = _gauge("ctx_bot_profit_closed_usd", "Profit of the closed trades", ["bot_id"])
        monitor = self.monitor_of()
        if monitor is None:
            return [up, today, limit, closed]
        statuses = monitor.last_statuses()
        for bot in monitor.bots:
            status = statuses.get(bot.id)
            if status is None:
                continue  # not polled yet: no figure rather than a false "down"
            up.add_metric([bot.id], 1.0 if status.reachable else 0.0)
            limit.add_metric([bot.id], float(bot.daily_loss_limit_usdt))
            if status.today_profit_abs is not None:
                today.add_metric([bot.id], float(status.today_profit_abs))
            if status.profit_closed_abs is not None:
                closed.add_metric([bot.id], float(status.profit_closed_abs))
        return [up, today, limit, closed]


def watch(service: Any, monitor_of: MonitorOf = lambda: None) -> StateCollector:
    """Register the state gauges on the service's registry, once per service."""
    metrics = service.components.metrics
    if metrics.state_collector is None:
        metrics.state_collector = StateCollector(service, monitor_of)
        metrics.registry.register(metrics.state_collector)
    else:
        metrics.state_collector.monitor_of = monitor_of
    return metrics.state_collector
