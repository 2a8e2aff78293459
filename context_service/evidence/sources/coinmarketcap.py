"""CoinMarketCap quotes and global metrics (the seed design's market source): on when
``CTX_CMC_API_KEY`` is set.

Each poll reads the global metrics (one ``market-data`` reading: market cap change, BTC
dominance) and the quotes of the assets the fleet trades (the markets snapshot's base
currencies; one reading per asset, tagged with it, so only bots trading it take it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from context_service.evidence.components import components_of
from context_service.evidence.fetch import FeedFetcher
from context_service.evidence.scoring import Scorer
from context_service.evidence.source import EvidenceSource, Poll, SourceError, register
from context_service.evidence.sources.perigon import MissingKey
from context_service.evidence.sources.readings import iso_time, number, reading_item

BASE_URL = "https://pro-api.coinmarketcap.com"
GLOBAL_PATH = "/v1/global-metrics/quotes/latest"
QUOTES_PATH = "/v2/cryptocurrency/quotes/latest"
VALID_FOR = timedelta(hours=2)
MAX_SYMBOLS = 50


@register
class CoinMarketCapSource(EvidenceSource):
    name = "coinmarketcap"
    summary = "quotes and global metrics (CoinMarketCap); needs CTX_CMC_API_KEY"
    needs = "CTX_CMC_API_KEY"
    scope = "market"

    def __init__(
        self, fetcher: FeedFetcher, scorer: Scorer, api_key: str, symbols: list[str]
    ) -> None:
        self.fetcher = fetcher
        self.scorer = scorer
        self._api_key = api_key
        self.symbols = symbols[:MAX_SYMBOLS]

    @classmethod
    def build(cls, components: Any) -> CoinMarketCapSource:
        parts = components_of(components)
        s = parts.settings
        if s.cmc_api_key is None or not s.cmc_api_key.get_secret_value().strip():
            raise MissingKey(cls.name, cls.needs)
        assert parts.scorer is not None and parts.tagger is not None
        fetcher = FeedFetcher(parts.http, timeout_s=s.timeout_s, max_bytes=s.max_bytes)
        symbols = sorted(a for a in parts.tagger.assets if a not in {"USDT", "USDC", "UST"})
        return cls(fetcher, parts.scorer, s.cmc_api_key.get_secret_value().strip(), symbols)

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        document = self.fetcher.get_json(
            BASE_URL + path,
            params=params,
            headers={"X-CMC_PRO_API_KEY": self._api_key, "Accept": "application/json"},
        )
        status = document.get("status") if isinstance(document.get("status"), dict) else {}
        if status.get("error_code") not in (0, "0", None):
            raise SourceError("api_error", str(status.get("error_message") or "")[:200])
        data = document.get("data")
        if not isinstance(data, dict):
            raise SourceError("malformed", f"{path}: no data object")
        return data

    def poll(self, cursor: str | None, now: datetime) -> Poll:
        items = []
        data = self._get(GLOBAL_PATH)
        usd = ((data.get("quote") or {}).get("USD")) or {}
        change = number(usd.get("total_market_cap_yesterday_percentage_change"))
        total = number(usd.get("total_market_cap"))
        btc = number(data.get("btc_dominance"))
        published = self._when(iso_time(data.get("last_updated")), now)
        if change is not None and total is not None:
            minute = published.strftime("%Y-%m-%dT%H:%M")
            items.append(
                reading_item(
                    object_id=f"cmc:global:{minute}",
                    source=self.name,
                    summary=f"Total crypto market cap ${total / 1e9:,.0f}B, {change:+.2f}% vs "
                    "yesterday" + ("" if btc is None else f", BTC dominance {btc:.1f}%"),
                    category="market-data",
                    score=self.scorer.band("market-cap-change", change),
                    published=published,
                    first_seen=now,
                    observed=max(published, now),
                    valid_for=VALID_FOR,
                    tags={"mcap_change_24h_pct": f"{change:.3f}"},
                )
            )
        if self.symbols:
            quotes = self._get(QUOTES_PATH, {"symbol": ",".join(self.symbols)})
            for symbol in self.symbols:
                entry = quotes.get(symbol)
                entry = entry[0] if isinstance(entry, list) and entry else entry
                if isinstance(entry, dict):
                    item = self._quote(symbol, entry, now)
                    if item is not None:
                        items.append(item)
        return Poll(items=items, cursor=cursor)

    def _quote(self, symbol: str, entry: dict[str, Any], now: datetime):
        usd = ((entry.get("quote") or {}).get("USD")) or {}
        price, change = number(usd.get("price")), number(usd.get("percent_change_24h"))
        if price is None or change is None or price <= 0:
            return None
        published = self._when(iso_time(usd.get("last_updated")), now)
        minute = published.strftime("%Y-%m-%dT%H:%M")
        return reading_item(
            object_id=f"cmc:quote:{symbol}:{minute}",
            source=self.name,
            summary=f"{symbol} ${price:,.6g}, {change:+.2f}% in 24h (CoinMarketCap)",
            category="market-data",
            score=self.scorer.band("price-change", change),
            published=published,
            first_seen=now,
            observed=max(published, now),
            valid_for=VALID_FOR,
            tags={"assets": symbol, "price_change_24h_pct": f"{change:.3f}"},
        )

    @staticmethod
    def _when(stated: datetime | None, now: datetime) -> datetime:
        # A quote stamped in the future (skewed clock) counts as now: readings are not news.
        return now if stated is None or stated > now else stated

    def close(self) -> None:
        self.fetcher.close()
