"""From a parsed feed entry to validated evidence: stable id, clocks, tags and score.

Every source (live or archive) produces :class:`FeedEntry` values and hands them to
:class:`ItemBuilder`, so cleaning, tagging, scoring and the point-in-time clocks are the same
for all of them.

Clocks: ``published_at`` is what the feed claims, ``first_seen_at`` is when we fetched it.
Live, an item becomes visible (``observed_at``) at the later of the two, so an item dated in
the future (clock skew, scheduled posts) is never visible before its time. An archive has no
``first_seen_at`` of its own: its items become visible at publish time plus an availability
lag. Items claiming a publish time further in the future than ``max_future`` are refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from context_service.evidence.assets import AssetTagger
from context_service.evidence.scoring import Scorer
from context_service.evidence.source import SourcedItem
from context_service.evidence.text import SUMMARY_CAP, TITLE_CAP, clean_text, clean_url
from context_service.models import Evidence, Provenance, Severity, as_utc

DEFAULT_MAX_FUTURE = timedelta(hours=12)
# Feeds' own labels ("subject", "category") kept as a tag, bounded.
LABEL_CAP = 64


class ItemRejected(ValueError):
    """An entry that cannot become evidence (no usable title, absurd date...)."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry as a source parsed it, before cleaning (all text is untrusted)."""

    source: str
    title: str
    summary: str
    url: str | None
    published_at: datetime | None
    label: str | None = None
    sentiment: float | None = None  # the source's own polarity, when it has one
    extra_tags: dict[str, str] = field(default_factory=dict)


def stable_id(source: str, url: str | None, title: str) -> str:
    """``news:<hash>`` of the normalised URL (scheme, ``www.``, query and fragment dropped),
    else of the source and title: the same article always gets the same id."""
    if url:
        parts = urlsplit(url.strip())
        host = parts.netloc.lower().removeprefix("www.")
        key = urlunsplit(("", host, parts.path.rstrip("/"), "", ""))
    else:
        key = f"{source}|{title.casefold()}"
    return "news:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


class ItemBuilder:
    """Turns entries into :class:`SourcedItem` values (see the module docstring)."""

    def __init__(
        self,
        tagger: AssetTagger,
        scorer: Scorer,
        *,
        max_future: timedelta = DEFAULT_MAX_FUTURE,
        valid_for: timedelta | None = None,
    ) -> None:
        self.tagger = tagger
        self.scorer = scorer
        self.max_future = max_future
        self.valid_for = valid_for

    def live(self, entry: FeedEntry, now: datetime) -> SourcedItem:
        """An entry fetched at ``now``: visible at max(published, now)."""
        now = as_utc(now)
        published = self._published(entry, now)
        return self._build(entry, published, first_seen=now, observed=max(published, now))

    def archived(self, entry: FeedEntry, lag: timedelta, imported_at: datetime) -> SourcedItem:
        """An entry of a historical archive: visible at published + ``lag``."""
        if entry.published_at is None:
            raise ItemRejected("archive entry without a date")
        published = self._published(entry, as_utc(imported_at))
        return self._build(entry, published, first_seen=published, observed=published + lag)

    def _published(self, entry: FeedEntry, now: datetime) -> datetime:
        published = now if entry.published_at is None else as_utc(entry.published_at)
        if published - now > self.max_future:
            raise ItemRejected(f"dated {published.isoformat()}, beyond the allowed clock skew")
        return published

    def _build(
        self, entry: FeedEntry, published: datetime, first_seen: datetime, observed: datetime
    ) -> SourcedItem:
        title = clean_text(entry.title, TITLE_CAP)
        summary = clean_text(entry.summary, SUMMARY_CAP)
        if not title and not summary:
            raise ItemRejected("entry has neither title nor summary")
        if not title:
            title = clean_text(summary, 120)
        url = clean_url(entry.url)
        source = clean_text(entry.source, LABEL_CAP) or "unknown"
        score = self.scorer.score(title, summary, entry.sentiment)
        tags = {
            "category": score.category,
            "scope": "market",
            "feed": source,
            "rule": score.rule,
            "sentiment": f"{score.sentiment:+.3f}",
            "published_at": published.isoformat(),
            "first_seen_at": first_seen.isoformat(),
        }
        assets = self.tagger.tag(title, summary)
        if assets:
            tags["mentions"] = assets
            # "assets" decides which pairs' decisions take the item; a critical event (an
            # exchange freezing withdrawals) moves the whole market, whoever it names.
            if score.severity != Severity.critical:
                tags["assets"] = assets
        label = clean_text(entry.label, LABEL_CAP).lower()
        if label:
            tags["label"] = label
        for key, value in entry.extra_tags.items():
            text = clean_text(value, 128)
            if text:
                tags.setdefault(key, text)
        valid_until = observed + self.valid_for if self.valid_for else None
        evidence = Evidence(
            id=stable_id(source, url, title),
            summary=f"{title} ({source})",
            detail=summary or None,
            tags=tags,
            provenance=Provenance(source=f"feed:{source}", reference=url),
            observed_at=observed,
            valid_until=valid_until,
            severity=score.severity,
            confidence=score.confidence,
        )
        return SourcedItem(evidence=evidence, published_at=published, first_seen_at=first_seen)
