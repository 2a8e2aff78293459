"""The Crypto Fear & Greed Index (alternative.me, key-less): one market-wide reading a day.

The first poll asks for the last ``HISTORY_DAYS`` days (the API's history), later polls for
the newest few; the cursor is the newest day stored. Each day's value is one object,
``fng:YYYY-MM-DD``, in the ``market-events`` lane, scored by the ``fear-greed`` bands of the
scoring rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from context_service.evidence.scoring import Scorer
from context_service.evidence.source import (
    Poll,
    SourcedItem,
    SourceError,
    register,
)
from context_service.evidence.sources.readings import ReadingSource, epoch, number, reading_item
from context_service.evidence.text import clean_text

API_URL = "https://api.alternative.me/fng/"
HISTORY_DAYS = 30
VALID_FOR = timedelta(days=2)  # a day's reading, with slack for a late next one


def index_item(
    day_start: datetime,
    value: float,
    label: str,
    scorer: Scorer,
    *,
    first_seen: datetime,
    observed: datetime,
) -> SourcedItem:
    """The evidence of one day's index value (shared with the CSV archive reader)."""
    label = clean_text(label, 40) or "unclassified"
    day = day_start.date().isoformat()
    return reading_item(
        object_id=f"fng:{day}",
        source="fear-greed",
        summary=f"Crypto Fear & Greed Index {day}: {value:.0f}/100 ({label})",
        category="event",
        score=scorer.band("fear-greed", value),
        published=day_start,
        first_seen=first_seen,
        observed=observed,
        valid_for=VALID_FOR,
        tags={"fng_value": f"{value:.0f}", "fng_label": label},
        reference="https://alternative.me/crypto/fear-and-greed-index/",
    )


@register
class FearGreedSource(ReadingSource):
    name = "fear-greed"
    summary = "Crypto Fear & Greed Index, daily (alternative.me, key-less)"
    scope = "market"

    def poll(self, cursor: str | None, now: datetime) -> Poll:
        limit = HISTORY_DAYS if cursor is None else 3
        document = self.fetcher.get_json(API_URL, params={"limit": str(limit), "format": "json"})
        error = (document.get("metadata") or {}).get("error")
        if error:
            raise SourceError("api_error", clean_text(str(error), 200))
        rows = document.get("data")
        if not isinstance(rows, list):
            raise SourceError("malformed", "no data list")
        items: list[SourcedItem] = []
        newest = cursor
        for row in rows[: HISTORY_DAYS * 2]:
            if not isinstance(row, dict):
                continue
            day_start = epoch(row.get("timestamp"))
            value = number(row.get("value"))
            if day_start is None or value is None or not 0 <= value <= 100:
                continue
            if day_start - now > self.max_future:
                continue
            day = day_start.date().isoformat()
            if cursor is not None and day <= cursor:
                continue
            label = row.get("value_classification")
            items.append(
                index_item(
                    day_start,
                    value,
                    label if isinstance(label, str) else "",
                    self.scorer,
                    first_seen=now,
                    observed=max(day_start, now),
                )
            )
            newest = max(newest or day, day)
        return Poll(items=items, cursor=newest)

    def close(self) -> None:
        self.fetcher.close()
