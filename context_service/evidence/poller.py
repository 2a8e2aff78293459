"""The scheduled poller: every enabled source on its own interval, with backoff and a breaker.

``run_due(now)`` polls each source whose time has come, one after the other; a thread calls it
in the sidecar (:meth:`FeedPoller.start`). A failed poll (``SourceError`` or any exception)
is recorded, and the source waits ``interval * 2**(failures-1)`` (at most ``max_backoff_s``)
before its next try; after ``breaker_failures`` failures in a row its breaker opens for
``breaker_open_s``, then one trial poll decides. A failure never touches another source, and
items accepted before stay stored: the cursor only moves once a poll's items are written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from context_service.evidence.components import FeedComponents
from context_service.evidence.config import FeedSettings
from context_service.evidence.ingest import EvidenceSink, Ingestor
from context_service.evidence.metrics import FeedMetrics
from context_service.evidence.source import EvidenceSource, SourceError, source_class
from context_service.evidence.status import FeedState, MemoryStatusStore, StatusStore
from context_service.models import utcnow

log = logging.getLogger(__name__)
KEYED = {"perigon": "perigon_api_key", "coinmarketcap": "cmc_api_key"}


@dataclass
class FeedJob:
    """One scheduled source: its status name (``rss-coindesk``), the source and its interval."""

    name: str
    source: EvidenceSource
    interval_s: float


def enabled_sources(settings: FeedSettings) -> list[str]:
    """The configured key-less sources plus each keyed source whose key is set."""
    names = list(dict.fromkeys(settings.enabled))
    for name, attribute in KEYED.items():
        key = getattr(settings, attribute)
        if key is not None and key.get_secret_value().strip() and name not in names:
            names.append(name)
    return names


def build_jobs(components: FeedComponents) -> tuple[list[FeedJob], dict[str, str]]:
    """The jobs of the enabled sources, and the sources left out with the reason."""
    from context_service.evidence.sources.rss import RssSource

    settings = components.settings
    jobs: list[FeedJob] = []
    skipped: dict[str, str] = {}
    for name in enabled_sources(settings):
        try:
            if name == "rss":
                for source in RssSource.for_feeds(components):
                    jobs.append(FeedJob(f"rss-{source.feed}", source, settings.interval("rss")))
                continue
            source = source_class(name).build(components)
        except (SourceError, ValueError) as exc:
            skipped[name] = str(exc)
            log.warning("feed source %s not started: %s", name, exc)
            continue
        jobs.append(FeedJob(name, source, settings.interval(name)))
    return jobs, skipped


class FeedPoller:
    def __init__(
        self,
        jobs: list[FeedJob],
        sink: EvidenceSink,
        settings: FeedSettings,
        *,
        metrics: FeedMetrics | None = None,
        status: StatusStore | None = None,
        clock: Callable[[], datetime] = utcnow,
        claim: Callable[[str, float], bool] | None = None,
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        # (feed name, seconds) -> whether this process may poll it now; several replicas of the
        # sidecar (serve --workers, pods) share one claim so a source is polled once per round.
        self.claim = claim
        self.settings = settings
        self.ingestor = Ingestor(sink)
        self.metrics = metrics or FeedMetrics()
        self.status = status or MemoryStatusStore()
        self.clock = clock
        known = self.status.load()
        self.states: dict[str, FeedState] = {}
        for job in jobs:
            state = known.get(job.name) or FeedState(job.name, job.interval_s)
            state.interval_s = job.interval_s
            self.states[job.name] = state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round ------------------------------------------------------------------------
    def run_due(self, now: datetime | None = None) -> list[str]:
        """Poll every source that is due at ``now``; returns their names."""
        now = now or self.clock()
        polled = []
        for name, job in self.jobs.items():
            state = self.states[name]
            if state.next_due is not None and state.next_due > now:
                continue
            if not self._claimed(job):
                state.next_due = now + timedelta(seconds=job.interval_s)  # another replica's turn
                continue
            self.poll_one(job, now)
            polled.append(name)
        self._update_gauges(now)
        return polled

    def _claimed(self, job: FeedJob) -> bool:
        if self.claim is None:
            return True
        try:
            return self.claim(job.name, job.interval_s)
        except Exception as exc:  # the claim store is down: poll anyway, duplicates merge
            log.warning("feed %s: poll claim unavailable (%s); polling", job.name, exc)
            return True

    def poll_one(self, job: FeedJob, now: datetime) -> FeedState:
        state = self.states[job.name]
        state.last_poll = now
        try:
            result = job.source.poll(state.cursor, now)
            ingested = self.ingestor.ingest(result.items)
        except Exception as exc:  # a broken source must never stop the others
            self._failed(job, state, exc, now)
        else:
            self._succeeded(job, state, result, ingested, now)
        self.status.save(state)
        return state

    def _succeeded(self, job: FeedJob, state: FeedState, result, ingested, now) -> None:
        state.cursor = result.cursor
        state.failures = 0
        state.breaker_open_until = None
        state.last_success = now
        state.items_seen += len(result.items)
        state.items_stored += ingested.stored
        state.duplicates += ingested.duplicates
        if result.items:
            newest = max(result.items, key=lambda item: item.published_at)
            state.newest_published = max(
                state.newest_published or newest.published_at, newest.published_at
            )
            state.ingest_delay_s = max(
                0.0, (newest.first_seen_at - newest.published_at).total_seconds()
            )
            self.metrics.delay.labels(job.name).set(state.ingest_delay_s)
        self.metrics.items.labels(job.name, "stored").inc(ingested.stored)
        self.metrics.items.labels(job.name, "duplicate").inc(ingested.duplicates)
        state.next_due = now + timedelta(seconds=job.interval_s)

    def _failed(self, job: FeedJob, state: FeedState, exc: Exception, now: datetime) -> None:
        reason = exc.reason if isinstance(exc, SourceError) else type(exc).__name__
        detail = exc.detail if isinstance(exc, SourceError) else str(exc)
        state.failures += 1
        state.last_error = f"{reason}: {detail}"[:300] if detail else reason
        state.last_error_at = now
        self.metrics.errors.labels(job.name, reason).inc()
        reset = getattr(job.source, "reset", None)
        if callable(reset):
            reset()  # e.g. forget ETags: the items of this poll were not stored
        backoff = min(job.interval_s * 2 ** (state.failures - 1), self.settings.max_backoff_s)
        state.next_due = now + timedelta(seconds=backoff)
        if state.failures >= self.settings.breaker_failures:
            state.breaker_open_until = now + timedelta(seconds=self.settings.breaker_open_s)
            state.next_due = max(state.next_due, state.breaker_open_until)
        log.warning("feed %s failed (%s in a row): %s", job.name, state.failures, state.last_error)

    def _update_gauges(self, now: datetime) -> None:
        for name, state in self.states.items():
            if state.last_success is not None:
                self.metrics.lag.labels(name).set((now - state.last_success).total_seconds())
            is_open = bool(state.breaker_open_until and state.breaker_open_until > now)
            self.metrics.breaker_open.labels(name).set(1 if is_open else 0)

    def view(self, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or self.clock()
        return [self.states[name].view(now) for name in sorted(self.states)]

    # -- background thread ----------------------------------------------------------------
    def start(self, tick_s: float = 5.0) -> FeedPoller:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, args=(tick_s,), name="feed-poller", daemon=True
            )
            self._thread.start()
        return self

    def _loop(self, tick_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:  # status store down etc.: log, keep the thread alive
                log.exception("feed poller round failed; retrying")
            self._stop.wait(tick_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for job in self.jobs.values():
            try:
                job.source.close()
            except Exception:
                log.exception("closing feed %s failed", job.name)
