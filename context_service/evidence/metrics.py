"""Prometheus metrics of the feeds: items ingested, errors and lag, per source."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.items = Counter(
            "ctx_feed_items",
            "Feed items by source and outcome (stored, duplicate)",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "ctx_feed_errors",
            "Failed polls by source and reason",
            ["source", "reason"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "ctx_feed_lag_seconds",
            "Seconds since the source's last successful poll",
            ["source"],
            registry=self.registry,
        )
        self.delay = Gauge(
            "ctx_feed_ingest_delay_seconds",
            "Publish-to-first-seen delay of the newest item of the last successful poll",
            ["source"],
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "ctx_feed_breaker_open",
            "1 while the source's breaker is open",
            ["source"],
            registry=self.registry,
        )
