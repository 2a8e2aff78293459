"""Prometheus metrics of the context service (one registry per service instance).

Counters and histograms are updated as things happen; the state gauges (cap headroom,
breakers, feeds, bots, Redis) are read at scrape time by
:class:`context_service.observability.StateCollector`. The process and GC collectors are
registered here so every registry carries them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from context_service.memory import unreadable

# Feed sources are free text from the feeds: only this many get their own label values.
MAX_FEED_SOURCES = 50


class _UnreadableRecords(Collector):
    """Stored records skipped because they no longer validate (process-wide counts)."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "ctx_unreadable_records",
            "Stored records skipped on read because they no longer validate, by kind",
            labels=["kind"],
        )
        for kind, count in sorted(unreadable.counts().items()):
            family.add_metric([kind], count)
        yield family


class ServiceMetrics:
    """Counters and histograms for verdicts, fallbacks, LLM spend and HTTP requests."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        if registry is None:  # a fresh registry: the standard runtime collectors too
            ProcessCollector(registry=self.registry)
            GCCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        # source -> (newest observed_at, last received), epoch seconds
        self._feeds: dict[str, tuple[float, float]] = {}
        self._feeds_lock = threading.Lock()
        self.state_collector: Any = None  # set once by observability.watch
        self.verdicts = Counter(
            "ctx_verdicts",
            "Verdicts by source and action",
            ["source", "action"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "ctx_verdict_fallbacks",
            "Providers skipped or failed, by provider and reason",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.verdict_latency = Histogram(
            "ctx_verdict_latency_seconds",
            "Time to produce a verdict",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.llm_cost = Counter(
            "ctx_llm_cost_usd", "LLM spend in USD", ["bot_id"], registry=self.registry
        )
        self.llm_tokens = Counter(
            "ctx_llm_tokens", "LLM tokens", ["bot_id", "kind"], registry=self.registry
        )
        self.adjustment_suggestions = Counter(
            "ctx_adjustment_suggestions",
            "LLM parameter suggestions by parameter and outcome (accepted, rejected)",
            ["parameter", "outcome"],
            registry=self.registry,
        )
        self.adjustments_in_force = Counter(
            "ctx_adjustments_in_force",
            "Verdicts handed to a bot with an adjustment in force, by parameter",
            ["parameter"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "ctx_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.retention_failures = Counter(
            "ctx_retention_failures",
            "Retention failures: a bot skipped ('bot') or a whole pass ('pass')",
            ["scope"],
            registry=self.registry,
        )
        self.registry.register(_UnreadableRecords())
        self.http_latency: Histogram = Histogram(
            "ctx_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)

    # --- feeds ------------------------------------------------------------------------------
    def record_evidence(self, objects: Iterable[Any], now: float | None = None) -> None:
        """Note the newest ``observed_at`` per provenance source of upserted evidence."""
        received = time.time() if now is None else now
        with self._feeds_lock:
            for obj in objects:
                observed = getattr(obj, "observed_at", None)
                if getattr(obj, "kind", None) != "evidence" or observed is None:
                    continue
                source = obj.provenance.source
                if source not in self._feeds and len(self._feeds) >= MAX_FEED_SOURCES:
                    source = "other"
                newest, _ = self._feeds.get(source, (0.0, 0.0))
                self._feeds[source] = (max(newest, observed.timestamp()), received)

    def feeds(self) -> dict[str, tuple[float, float]]:
        with self._feeds_lock:
            return dict(self._feeds)
