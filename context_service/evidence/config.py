"""Settings of the evidence feeds (``CTX_FEEDS_*``; API keys ``CTX_PERIGON_API_KEY`` and
``CTX_CMC_API_KEY``). Kept apart from the service settings: feeds are optional and numerous."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RSS_FEEDS: dict[str, str] = {
    "cointelegraph": "https://cointelegraph.com/rss",
    "coindesk": "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "decrypt": "https://decrypt.co/feed",
    "cryptopotato": "https://cryptopotato.com/feed/",
    "bitcoinmagazine": "https://bitcoinmagazine.com/.rss/full/",
}
# Key-less sources on by default; keyed ones switch on when their key is set.
DEFAULT_ENABLED = ("rss", "fear-greed", "coingecko")


class FeedSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CTX_FEEDS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    enabled: tuple[str, ...] = Field(
        default=DEFAULT_ENABLED,
        description="Sources the sidecar polls (perigon and coinmarketcap also need their key).",
    )
    poll: bool = Field(default=True, description="Run the poller inside the sidecar.")
    rss_urls: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RSS_FEEDS))
    interval_s: dict[str, float] = Field(
        default_factory=lambda: {
            "rss": 300,
            "fear-greed": 3600,
            "coingecko": 900,
            "perigon": 600,
            "coinmarketcap": 900,
        },
        description="Seconds between polls, per source (others: default_interval_s).",
    )
    default_interval_s: float = Field(default=600, ge=10)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_bytes: int = Field(default=2_000_000, ge=10_000, le=100_000_000)
    max_backoff_s: float = Field(default=3600, ge=10)
    breaker_failures: int = Field(default=5, ge=1, description="Failures in a row that open it.")
    breaker_open_s: float = Field(default=1800, gt=0)
    max_future_hours: float = Field(
        default=12,
        ge=0,
        le=23,
        description="Items dated further ahead than this are refused (the market store refuses "
        "anything a day ahead of its clock, a whole batch at once).",
    )
    news_valid_hours: float = Field(default=72, gt=0)
    archive_lag_minutes: dict[str, float] = Field(
        default_factory=lambda: {"news": 720, "sentiment": 60},
        description="Availability lag of archive items after their stated time (see docs).",
    )
    rules_file: Path | None = Field(default=None, description="Scoring rules (YAML).")
    markets_snapshot: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CTX_FEEDS_MARKETS_SNAPSHOT", "CTX_MARKETS_SNAPSHOT"),
        description="ccxt markets JSON whose base currencies become asset tags.",
    )
    news_archive: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CTX_FEEDS_NEWS_ARCHIVE", "CTX_NEWS_ARCHIVE"),
        description="The CSV news archive backtests import when the store has none of it.",
    )
    sentiment_archive: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CTX_FEEDS_SENTIMENT_ARCHIVE", "CTX_SENTIMENT_ARCHIVE"),
        description="The Fear & Greed CSV backtests import when the store has none of it.",
    )
    perigon_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CTX_PERIGON_API_KEY", "PERIGON_API_KEY")
    )
    cmc_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CTX_CMC_API_KEY", "CMC_API_KEY")
    )

    @field_validator("interval_s")
    @classmethod
    def _intervals(cls, value: dict[str, float]) -> dict[str, float]:
        for name, seconds in value.items():
            if not 10 <= seconds <= 86_400 * 7:
                raise ValueError(f"interval of {name} must be 10 s .. 7 days, got {seconds}")
        return value

    @field_validator("archive_lag_minutes")
    @classmethod
    def _lags(cls, value: dict[str, float]) -> dict[str, float]:
        for name, minutes in value.items():
            if not 0 <= minutes <= 60 * 24 * 30:
                raise ValueError(f"archive lag of {name} must be 0 .. 30 days, got {minutes}")
        return value

    def interval(self, source: str) -> float:
        return self.interval_s.get(source, self.default_interval_s)

    def archive_lag(self, archive: str) -> timedelta:
        return timedelta(minutes=self.archive_lag_minutes.get(archive, 720))

    def archive_file(self, archive: str) -> Path | None:
        return {"news": self.news_archive, "sentiment": self.sentiment_archive}.get(archive)

    @property
    def max_future(self) -> timedelta:
        return timedelta(hours=self.max_future_hours)


@lru_cache(maxsize=1)
def get_feed_settings() -> FeedSettings:
    return FeedSettings()
