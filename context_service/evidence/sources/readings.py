"""Helpers for sources that report numbers (index values, market caps): safe reading of JSON
fields and one evidence object per reading."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from context_service.evidence.components import components_of
from context_service.evidence.fetch import FeedFetcher
from context_service.evidence.scoring import Score, Scorer
from context_service.evidence.source import EvidenceSource, SourcedItem
from context_service.evidence.text import clean_text
from context_service.models import Evidence, Provenance, as_utc


def number(value: Any) -> float | None:
    """A finite number from a JSON value (numbers or numeric strings); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def epoch(value: Any) -> datetime | None:
    """A UTC time from epoch seconds (number or string), within years 2000..2200."""
    seconds = number(value)
    if seconds is None or not 946_684_800 <= seconds <= 7_258_118_400:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def iso_time(value: Any) -> datetime | None:
    """A UTC time from an ISO 8601 string with a zone (naive strings are refused)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return as_utc(parsed)
    except ValueError:
        return None


def reading_item(
    *,
    object_id: str,
    source: str,
    summary: str,
    category: str,
    score: Score,
    published: datetime,
    first_seen: datetime,
    observed: datetime,
    valid_for: timedelta,
    tags: dict[str, str],
    reference: str | None = None,
) -> SourcedItem:
    evidence = Evidence(
        id=object_id,
        summary=clean_text(summary, 400),
        tags={
            "category": category,
            "scope": "market",
            "feed": source,
            "rule": score.rule,
            "published_at": published.isoformat(),
            "first_seen_at": first_seen.isoformat(),
            **tags,
        },
        provenance=Provenance(source=f"feed:{source}", reference=reference),
        observed_at=observed,
        valid_until=observed + valid_for,
        severity=score.severity,
        confidence=score.confidence,
    )
    return SourcedItem(evidence=evidence, published_at=published, first_seen_at=first_seen)


class ReadingSource(EvidenceSource):
    """Base of the key-less JSON sources that report readings (Fear & Greed, CoinGecko): a
    fetcher with the feeds' timeout and size limit, the scoring rules and the clock-skew
    bound."""

    def __init__(self, fetcher: FeedFetcher, scorer: Scorer, max_future: timedelta) -> None:
        self.fetcher = fetcher
        self.scorer = scorer
        self.max_future = max_future

    @classmethod
    def build(cls, components: Any) -> ReadingSource:
        parts = components_of(components)
        s = parts.settings
        assert parts.scorer is not None
        fetcher = FeedFetcher(parts.http, timeout_s=s.timeout_s, max_bytes=s.max_bytes)
        return cls(fetcher, parts.scorer, s.max_future)
