"""Which assets a piece of news is about: tickers and names, matched as whole words.

The tagger knows the base currencies of the markets snapshot (so a fleet trading SOL and MATIC
tags news about them) plus a table of common names (``bitcoin`` -> BTC, ``polygon`` -> MATIC).
Short tickers that are also English words (``ONE``, ``NEAR``...) only match in capitals, so
"one of the" never tags Harmony.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

# Names and aliases of well-known assets; tickers themselves always match.
ASSET_NAMES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "xbt"),
    "ETH": ("ethereum", "ether"),
    "SOL": ("solana",),
    "XRP": ("ripple",),
    "DOGE": ("dogecoin",),
    "MATIC": ("polygon", "pol"),
    "ADA": ("cardano",),
    "BNB": ("binance coin", "bnb chain"),
    "DOT": ("polkadot",),
    "AVAX": ("avalanche",),
    "LTC": ("litecoin",),
    "LINK": ("chainlink",),
    "TRX": ("tron",),
    "SHIB": ("shiba inu",),
    "LUNA": ("terra", "terraform labs"),
    "UST": ("terrausd",),
    "USDT": ("tether",),
    "USDC": ("usd coin",),
    "ATOM": ("cosmos",),
    "XLM": ("stellar lumens",),
    "CEL": ("celsius",),
    "FTT": ("ftx token",),
}
MAX_ASSETS_PER_ITEM = 12


class AssetTagger:
    """Finds the assets a text mentions; ``tag`` returns them sorted, comma-joined."""

    def __init__(self, bases: Iterable[str] = (), names: dict[str, tuple[str, ...]] | None = None):
        names = ASSET_NAMES if names is None else names
        self.assets: set[str] = {b.upper() for b in bases if _ticker_ok(b)} | set(names)
        case_sensitive: dict[str, str] = {}
        case_insensitive: dict[str, str] = {}
        for ticker in self.assets:
            # A ticker that is also a word ("ONE", "GAS") only counts in capitals or with a $.
            case_sensitive[ticker] = ticker
            case_sensitive["$" + ticker] = ticker
            for alias in names.get(ticker, ()):
                case_insensitive[alias.lower()] = ticker
        self._exact = case_sensitive
        self._folded = case_insensitive
        self._exact_re = _alternation(case_sensitive, flags=0)
        self._folded_re = _alternation(case_insensitive, flags=re.IGNORECASE)

    @classmethod
    def from_markets_snapshot(cls, path: Path | None) -> AssetTagger:
        """Tickers from a ccxt markets JSON (``{symbol: {"base": ...}}``); names only when the
        file is missing or unreadable."""
        bases: list[str] = []
        if path is not None:
            try:
                markets = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                markets = {}
            if isinstance(markets, dict):
                for market in markets.values():
                    if isinstance(market, dict) and isinstance(market.get("base"), str):
                        bases.append(market["base"])
        return cls(bases)

    def find(self, *texts: str) -> list[str]:
        found: set[str] = set()
        for text in texts:
            if not text:
                continue
            if self._exact_re is not None:
                found.update(self._exact[m.group(1)] for m in self._exact_re.finditer(text))
            if self._folded_re is not None:
                found.update(
                    self._folded[m.group(1).lower()] for m in self._folded_re.finditer(text)
                )
        return sorted(found)[:MAX_ASSETS_PER_ITEM]

    def tag(self, *texts: str) -> str:
        return ",".join(self.find(*texts))


def _ticker_ok(value: object) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"[A-Za-z0-9]{2,10}", value))


def _alternation(words: dict[str, str], flags: int) -> re.Pattern[str] | None:
    if not words:
        return None
    ordered = sorted(words, key=len, reverse=True)  # longest first: "shiba inu" before "shib"
    body = "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in ordered)
    return re.compile(rf"(?<![\w$])({body})(?!\w)", flags)


def pair_assets(pair: str) -> frozenset[str]:
    """The assets a decision on ``pair`` is about: base and quote (``BTC/USDT`` -> BTC, USDT;
    a futures suffix ``:USDT`` adds nothing new). Tether news matters to a USDT pair too."""
    market, _, settle = pair.partition(":")
    return frozenset(p for p in (*market.split("/"), settle) if p)


def assets_of(tag_value: str | None) -> set[str]:
    """The asset set stored in an item's ``assets`` tag."""
    return {a for a in (tag_value or "").split(",") if a}
