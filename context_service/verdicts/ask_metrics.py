"""Prometheus metrics of the asynchronous verdict asks (``verdicts/pending.py``), read from
the table when ``/metrics`` is scraped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class AskTable(Protocol):
    def event_counts(self) -> dict[str, int]: ...

    def in_progress(self, bot_id: str | None = None) -> int: ...

    def oldest_pending_s(self) -> float: ...


class AskCollector(Collector):
    """``ctx_verdict_asks_total{event}``, ``ctx_verdict_asks_in_progress`` and
    ``ctx_verdict_asks_oldest_pending_seconds``, read from the table at scrape time."""

    def __init__(self, table: AskTable) -> None:
        self.table = table

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "ctx_verdict_asks",
            "Asynchronous verdict asks by event: started, deduplicated (asked again while known), "
            "completed, failed, abandoned (cancelled before it ran), elsewhere (another sidecar "
            "has it), busy_bot and busy (refused at the per-bot or total bound)",
            labels=["event"],
        )
        for event, count in sorted(self.table.event_counts().items()):
            events.add_metric([event], count)
        yield events
        running = GaugeMetricFamily(
            "ctx_verdict_asks_in_progress", "Asynchronous verdict asks queued or running"
        )
        running.add_metric([], self.table.in_progress())
        yield running
        oldest = GaugeMetricFamily(
            "ctx_verdict_asks_oldest_pending_seconds",
            "Age of the oldest asynchronous verdict ask still in progress",
        )
        oldest.add_metric([], self.table.oldest_pending_s())
        yield oldest
