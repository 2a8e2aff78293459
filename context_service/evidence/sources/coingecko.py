"""CoinGecko global market data (key-less tier): total market cap, its 24 h change and BTC
dominance, as one ``market-data`` reading per hour (``coingecko:global:<hour>``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from context_service.evidence.source import Poll, SourceError, register
from context_service.evidence.sources.readings import ReadingSource, epoch, number, reading_item

API_URL = "https://api.coingecko.com/api/v3/global"
VALID_FOR = timedelta(hours=6)


@register
class CoinGeckoGlobalSource(ReadingSource):
    name = "coingecko"
    summary = "global crypto market cap, 24h change and BTC dominance (CoinGecko, key-less)"
    scope = "market"

    def poll(self, cursor: str | None, now: datetime) -> Poll:
        document = self.fetcher.get_json(API_URL, headers={"Accept": "application/json"})
        data = document.get("data")
        if not isinstance(data, dict):
            raise SourceError("malformed", "no data object")
        total = number((data.get("total_market_cap") or {}).get("usd"))
        change = number(data.get("market_cap_change_percentage_24h_usd"))
        btc = number((data.get("market_cap_percentage") or {}).get("btc"))
        if total is None or change is None or not -100 <= change <= 10_000:
            raise SourceError("malformed", "market cap or its change missing")
        published = epoch(data.get("updated_at")) or now
        if published - now > self.max_future:
            raise SourceError("future_dated", published.isoformat())
        hour = published.strftime("%Y-%m-%dT%H")
        if cursor == hour:
            return Poll(items=[], cursor=cursor)
        dominance = "" if btc is None else f", BTC dominance {btc:.1f}%"
        item = reading_item(
            object_id=f"coingecko:global:{hour}",
            source=self.name,
            summary=(
                f"Total crypto market cap ${total / 1e9:,.0f}B, {change:+.2f}% in 24h{dominance}"
            ),
            category="market-data",
            score=self.scorer.band("market-cap-change", change),
            published=published,
            first_seen=now,
            observed=max(published, now),
            valid_for=VALID_FOR,
            tags={
                "mcap_change_24h_pct": f"{change:.3f}",
                **({"btc_dominance_pct": f"{btc:.2f}"} if btc is not None else {}),
            },
            reference="https://www.coingecko.com/en/global-charts",
        )
        return Poll(items=[item], cursor=hour)

    def close(self) -> None:
        self.fetcher.close()
