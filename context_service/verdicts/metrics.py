"""Prometheus metrics of the context service (one registry per service instance)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from context_service.memory import unreadable


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
