"""Historical archives for point-in-time backtests: read, validated, ready to import.

Two formats (``../shared/data/README.md`` describes them):

* ``news``: the CSV news archive ``date;sentiment;source;subject;text;title;url`` with dates
  ``D-M-YYYY HH:MM`` and no time zone. They are read as UTC and made visible only after the
  availability lag (default 12 h, ``CTX_FEEDS_ARCHIVE_LAG_MINUTES``): no civil time zone is more
  than 12 h behind UTC, so whatever zone the archive was written in, no item becomes visible
  before it was published. See docs/feeds.md.
* ``sentiment``: the Fear & Greed CSV ``date,value,value_classification`` (dates
  ``YYYY-MM-DDT00:00:00Z``),
  one value a day published at the start of the day (UTC); default lag 1 h.

Readers yield :class:`SourcedItem` values in publish order and count what they skipped, so an
import can show progress and say what it refused.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from context_service.evidence.items import FeedEntry, ItemBuilder, ItemRejected
from context_service.evidence.scoring import Scorer
from context_service.evidence.source import SourcedItem
from context_service.evidence.sources.fear_greed import index_item
from context_service.evidence.sources.readings import number

MAX_ARCHIVE_BYTES = 500_000_000
NEWS_FIELDS = ("date", "sentiment", "source", "subject", "text", "title", "url")
SENTIMENT_FIELDS = ("date", "value", "value_classification")
_NEWS_DATE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4}) (\d{1,2}):(\d{2})$")
# The news archive carries some characters as literal escapes: a backslash, "xa0" for a
# no-break space, or the last byte of UTF-8 punctuation ("x9c" and "x9d" for curly quotes).
_LITERAL_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})")
_ESCAPED_BYTE = {"a0": " ", "9c": "“", "9d": "”", "98": "‘", "99": "’", "93": "–", "94": "—"}
_POLARITY = re.compile(r"'polarity'\s*:\s*(-?\d+(?:\.\d+)?)")
csv.field_size_limit(1_000_000)


class ArchiveError(ValueError):
    """The file is not an archive of the named format; the message says why."""


@dataclass
class ArchiveRead:
    """Items of one archive and what was skipped (reason -> count)."""

    items: list[SourcedItem]
    rows: int
    skipped: Counter[str] = field(default_factory=Counter)


def parse_news_date(value: str) -> datetime:
    """``D-M-YYYY HH:MM`` read as UTC."""
    match = _NEWS_DATE.match(value.strip())
    if not match:
        raise ValueError(f"date {value[:40]!r} is not D-M-YYYY HH:MM")
    day, month, year, hour, minute = (int(g) for g in match.groups())
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def unescape_literals(text: str) -> str:
    """The archive's literal escapes as the characters they stand for (unknown ones dropped;
    ``\\uXXXX`` decoded, then cleaned like any feed text)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(2):
            return chr(int(match.group(2), 16))
        return _ESCAPED_BYTE.get(match.group(1).lower(), "")

    return _LITERAL_ESCAPE.sub(replace, text) if "\\" in text else text


def archive_polarity(value: str) -> float | None:
    """The ``polarity`` of the archive's sentiment column (a Python-dict-like string)."""
    match = _POLARITY.search(value or "")
    return None if match is None else number(match.group(1))


def _rows(path: Path, delimiter: str, fields: tuple[str, ...]) -> Iterator[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"{path}: larger than {MAX_ARCHIVE_BYTES} bytes")
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = tuple(reader.fieldnames or ())
        if not set(fields) <= set(header):
            raise ArchiveError(f"{path}: header {header} lacks {sorted(set(fields) - set(header))}")
        yield from reader


def read_news(
    path: Path,
    builder: ItemBuilder,
    lag: timedelta,
    imported_at: datetime,
    progress: Callable[[int], None] | None = None,
) -> ArchiveRead:
    """Every usable row of the news archive as items visible at date + ``lag``."""
    items, skipped, rows = [], Counter(), 0
    for row in _rows(path, ";", NEWS_FIELDS):
        rows += 1
        if progress:
            progress(rows)
        try:
            published = parse_news_date(row.get("date") or "")
            source = (row.get("source") or "").strip() or "archive"
            entry = FeedEntry(
                source=source[:64],
                title=unescape_literals(row.get("title") or ""),
                summary=unescape_literals(row.get("text") or ""),
                url=row.get("url"),
                published_at=published,
                label=row.get("subject"),
                extra_tags=_polarity_tag(row.get("sentiment") or ""),
            )
            items.append(builder.archived(entry, lag, imported_at))
        except ItemRejected as exc:
            skipped[str(exc).split(",")[0][:60]] += 1
        except ValueError:
            skipped["unreadable row"] += 1
    items.sort(key=lambda item: (item.published_at, item.evidence.id))
    return ArchiveRead(items, rows, skipped)


def _polarity_tag(raw: str) -> dict[str, str]:
    polarity = archive_polarity(raw)
    return {} if polarity is None else {"archive_polarity": f"{polarity:+.3f}"}


def read_sentiment(
    path: Path,
    scorer: Scorer,
    lag: timedelta,
    imported_at: datetime,
    max_future: timedelta = timedelta(days=2),
    progress: Callable[[int], None] | None = None,
) -> ArchiveRead:
    """Every usable day of the Fear & Greed CSV, visible at the day's start + ``lag``."""
    items, skipped, rows = [], Counter(), 0
    for row in _rows(path, ",", SENTIMENT_FIELDS):
        rows += 1
        if progress:
            progress(rows)
        try:
            day_start = datetime.fromisoformat((row.get("date") or "").strip())
            if day_start.tzinfo is None:
                raise ValueError("naive date")
            day_start = day_start.astimezone(UTC)
        except ValueError:
            skipped["unreadable date"] += 1
            continue
        value = number(row.get("value"))
        if value is None or not 0 <= value <= 100:
            skipped["value outside 0..100"] += 1
            continue
        if day_start - imported_at > max_future:
            skipped["dated in the future"] += 1
            continue
        label = row.get("value_classification") or ""
        items.append(
            index_item(
                day_start, value, label, scorer, first_seen=day_start, observed=day_start + lag
            )
        )
    items.sort(key=lambda item: item.published_at)
    return ArchiveRead(items, rows, skipped)


ARCHIVES = ("news", "sentiment")
