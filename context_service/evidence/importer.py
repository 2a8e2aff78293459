"""Loading a historical archive into the market-wide evidence store (``feeds import``).

Idempotent: ids are stable and upserts merge, so running an import twice stores the same
objects once. Near-duplicates inside the archive are dropped the way live polling drops them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from context_service.evidence.archives import (
    ARCHIVES,
    ArchiveError,
    ArchiveRead,
    read_news,
    read_sentiment,
)
from context_service.evidence.components import FeedComponents
from context_service.evidence.ingest import EvidenceSink, Ingestor
from context_service.evidence.progress import ProgressBar, count_lines
from context_service.models import utcnow

ARCHIVE_TAG = "archive"


@dataclass
class ImportReport:
    archive: str
    file: str
    rows: int
    items: int
    stored: int
    duplicates: int
    lag_minutes: float
    seconds: float
    skipped: Counter[str] = field(default_factory=Counter)
    first_published: str | None = None
    last_published: str | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["skipped"] = dict(self.skipped)
        data["rows_per_s"] = round(self.rate, 1)
        return data


def read_archive(
    archive: str,
    path: Path,
    components: FeedComponents,
    lag: timedelta | None = None,
    show_progress: bool = True,
) -> ArchiveRead:
    if archive not in ARCHIVES:
        raise ValueError(f"unknown archive {archive!r}; known: {', '.join(ARCHIVES)}")
    if not Path(path).is_file():
        raise ArchiveError(f"{path}: no such file")
    settings = components.settings
    lag = settings.archive_lag(archive) if lag is None else lag
    bar = (
        ProgressBar(max(count_lines(path) - 1, 1), f"reading {archive}") if show_progress else None
    )
    progress = bar.update if bar else None
    try:
        if archive == "news":
            builder = components.builder(valid_for=timedelta(hours=settings.news_valid_hours))
            return read_news(path, builder, lag, utcnow(), progress)
        assert components.scorer is not None
        return read_sentiment(path, components.scorer, lag, utcnow(), settings.max_future, progress)
    finally:
        if bar:
            bar.close()


def import_archive(
    archive: str,
    path: Path,
    sink: EvidenceSink,
    components: FeedComponents,
    lag: timedelta | None = None,
    show_progress: bool = True,
) -> ImportReport:
    started = time.perf_counter()
    lag = components.settings.archive_lag(archive) if lag is None else lag
    read = read_archive(archive, path, components, lag, show_progress)
    for item in read.items:  # which archive an item came from: backtests select by it
        item.evidence.tags[ARCHIVE_TAG] = archive
    ingestor = Ingestor(sink)
    stored = duplicates = 0
    bar = ProgressBar(len(read.items), f"storing {archive}") if show_progress else None
    for start in range(0, len(read.items), 500):
        result = ingestor.ingest(read.items[start : start + 500])
        stored += result.stored
        duplicates += result.duplicates
        if bar:
            bar.update(min(start + 500, len(read.items)))
    if bar:
        bar.close()
    return ImportReport(
        archive=archive,
        file=str(path),
        rows=read.rows,
        items=len(read.items),
        stored=stored,
        duplicates=duplicates,
        lag_minutes=lag.total_seconds() / 60,
        seconds=time.perf_counter() - started,
        skipped=read.skipped,
        first_published=read.items[0].published_at.isoformat() if read.items else None,
        last_published=read.items[-1].published_at.isoformat() if read.items else None,
    )
