"""RSS and Atom news feeds, key-less: CoinTelegraph, CoinDesk, Decrypt and any feed you list.

One source instance reads one feed URL (the poller runs one per entry of
``CTX_FEEDS_RSS_URLS``, so a broken feed never holds up the others). Parsing is feedparser's,
which is lenient with sloppy XML; a body it cannot read any entry from is ``malformed``.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from context_service.evidence.components import components_of
from context_service.evidence.fetch import FeedFetcher
from context_service.evidence.items import FeedEntry, ItemBuilder, ItemRejected
from context_service.evidence.source import EvidenceSource, Poll, SourceError, register

MAX_ENTRIES = 200  # a feed with thousands of entries is cut, newest first as feeds list them


@register
class RssSource(EvidenceSource):
    name = "rss"
    summary = "crypto news from RSS/Atom feeds (key-less)"
    needs = "nothing (feed URLs in CTX_FEEDS_RSS_URLS)"
    scope = "market"

    def __init__(self, feed: str, url: str, fetcher: FeedFetcher, builder: ItemBuilder) -> None:
        self.feed = feed
        self.url = url
        self.fetcher = fetcher
        self.builder = builder

    @classmethod
    def build(cls, components: Any) -> RssSource:
        """The first configured feed; the poller builds one per feed with :meth:`for_feeds`."""
        return cls.for_feeds(components)[0]

    @classmethod
    def for_feeds(cls, components: Any) -> list[RssSource]:
        parts = components_of(components)
        settings = parts.settings
        builder = parts.builder(valid_for=timedelta(hours=settings.news_valid_hours))
        return [
            cls(
                feed,
                url,
                FeedFetcher(parts.http, timeout_s=settings.timeout_s, max_bytes=settings.max_bytes),
                builder,
            )
            for feed, url in sorted(settings.rss_urls.items())
        ]

    def poll(self, cursor: str | None, now: datetime) -> Poll:
        fetched = self.fetcher.get(self.url)
        if fetched.not_modified:
            return Poll(items=[], cursor=cursor)
        parsed = feedparser.parse(fetched.body, sanitize_html=False, resolve_relative_uris=False)
        entries = list(parsed.get("entries") or [])[:MAX_ENTRIES]
        if not entries:
            # Nothing readable: broken XML, or a 200 page that is no feed at all (an error
            # page, a bot challenge). An empty but valid feed is simply quiet.
            if parsed.get("bozo") or not parsed.get("version"):
                reason = type(parsed.get("bozo_exception")).__name__
                raise SourceError("malformed", f"{self.feed}: not a readable feed ({reason})")
            return Poll(items=[], cursor=cursor)
        feed_title = str((parsed.get("feed") or {}).get("title") or self.feed)
        items = []
        for entry in entries:
            try:
                items.append(self.builder.live(self.entry(entry, feed_title), now))
            except (ItemRejected, ValueError):
                continue  # one bad entry costs only itself
        return Poll(items=items, cursor=cursor)

    def entry(self, raw: Any, feed_title: str) -> FeedEntry:
        tags = raw.get("tags") or []
        label = tags[0].get("term") if tags and isinstance(tags[0], dict) else None
        return FeedEntry(
            source=self.feed,
            title=str(raw.get("title") or ""),
            summary=str(raw.get("summary") or raw.get("description") or ""),
            url=raw.get("link") if isinstance(raw.get("link"), str) else None,
            published_at=_entry_time(raw),
            label=label if isinstance(label, str) else None,
            extra_tags={"outlet": feed_title},
        )

    def reset(self) -> None:
        self.fetcher.forget()

    def close(self) -> None:
        self.fetcher.close()


def _entry_time(raw: Any) -> datetime | None:
    """feedparser's parsed time (a UTC struct_time) of publication, else of update."""
    for key in ("published_parsed", "updated_parsed"):
        value = raw.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError, TypeError):
                return None
    return None
