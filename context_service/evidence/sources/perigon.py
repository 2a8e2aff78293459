"""Perigon news search (the seed design's news source): on when ``CTX_PERIGON_API_KEY`` is set.

The key travels in a header, never in a URL that could end up in a log. The cursor is the
newest publish time seen; each poll asks for articles from then on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from context_service.evidence.components import components_of
from context_service.evidence.fetch import FeedFetcher
from context_service.evidence.items import FeedEntry, ItemBuilder, ItemRejected
from context_service.evidence.source import EvidenceSource, Poll, SourceError, register
from context_service.evidence.sources.readings import iso_time, number

API_URL = "https://api.goperigon.com/v1/all"
QUERY = "crypto OR bitcoin OR ethereum OR cryptocurrency"
PAGE_SIZE = 50


class MissingKey(SourceError):
    def __init__(self, source: str, variable: str) -> None:
        super().__init__("no_key", f"{source} needs {variable}")


@register
class PerigonSource(EvidenceSource):
    name = "perigon"
    summary = "news search (Perigon); needs CTX_PERIGON_API_KEY"
    needs = "CTX_PERIGON_API_KEY"
    scope = "market"

    def __init__(self, fetcher: FeedFetcher, builder: ItemBuilder, api_key: str) -> None:
        self.fetcher = fetcher
        self.builder = builder
        self._api_key = api_key

    @classmethod
    def build(cls, components: Any) -> PerigonSource:
        parts = components_of(components)
        s = parts.settings
        if s.perigon_api_key is None or not s.perigon_api_key.get_secret_value().strip():
            raise MissingKey(cls.name, cls.needs)
        fetcher = FeedFetcher(parts.http, timeout_s=s.timeout_s, max_bytes=s.max_bytes)
        builder = parts.builder(valid_for=timedelta(hours=s.news_valid_hours))
        return cls(fetcher, builder, s.perigon_api_key.get_secret_value().strip())

    def poll(self, cursor: str | None, now: datetime) -> Poll:
        params = {"q": QUERY, "sortBy": "date", "size": str(PAGE_SIZE), "language": "en"}
        if cursor:
            params["from"] = cursor
        document = self.fetcher.get_json(
            API_URL, params=params, headers={"x-api-key": self._api_key}
        )
        articles = document.get("articles")
        if not isinstance(articles, list):
            raise SourceError("malformed", "no articles list")
        items, newest = [], cursor
        for raw in articles[: PAGE_SIZE * 2]:
            if not isinstance(raw, dict):
                continue
            published = iso_time(raw.get("pubDate"))
            outlet = raw.get("source") if isinstance(raw.get("source"), dict) else {}
            sentiment = raw.get("sentiment") if isinstance(raw.get("sentiment"), dict) else {}
            positive, negative = (
                number(sentiment.get("positive")),
                number(sentiment.get("negative")),
            )
            entry = FeedEntry(
                source=self.name,
                title=str(raw.get("title") or ""),
                summary=str(raw.get("description") or raw.get("summary") or ""),
                url=raw.get("url") if isinstance(raw.get("url"), str) else None,
                published_at=published,
                sentiment=None if positive is None or negative is None else positive - negative,
                extra_tags={"outlet": str(outlet.get("domain") or "")} if outlet else {},
            )
            try:
                item = self.builder.live(entry, now)
            except (ItemRejected, ValueError):
                continue
            items.append(item)
            stamp = item.published_at.isoformat()
            if item.published_at <= now and (newest is None or stamp > newest):
                newest = stamp
        return Poll(items=items, cursor=newest)

    def close(self) -> None:
        self.fetcher.close()
