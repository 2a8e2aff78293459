"""Evidence test fixtures: the sidecar's (see tests/verdicts/support.py), and for the feeds
recorded real-format responses (``fixtures/``) and components that use them (a fixed markets
snapshot, the packaged scoring rules, a respx-mocked HTTP client)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from verdicts.support import llm_mock, make_service

from context_service.evidence.components import FeedComponents
from context_service.evidence.config import FeedSettings

__all__ = ["llm_mock", "make_service"]

FIXTURES = Path(__file__).with_name("fixtures")
# The moment the recorded responses were "fetched" (the Celsius withdrawal freeze).
FETCHED_AT = datetime(2022, 6, 13, 8, 15, tzinfo=UTC)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def feed_settings() -> FeedSettings:
    return FeedSettings(
        _env_file=None,
        markets_snapshot=FIXTURES / "markets-snapshot.json",
        rss_urls={
            "cointelegraph": "https://cointelegraph.com/rss",
            "decrypt": "https://decrypt.co/feed",
        },
        max_bytes=50_000,
        timeout_s=2.0,
    )


@pytest.fixture
def components(feed_settings: FeedSettings) -> FeedComponents:
    return FeedComponents(feed_settings)


@pytest.fixture(scope="session")
def news_archive() -> Path:
    """The real news archive (``CTX_NEWS_ARCHIVE``, else beside ``CTX_DATA_DIR``); skipped
    when the shared data is absent."""
    for candidate in _archive_candidates("CTX_NEWS_ARCHIVE", "news/cryptonews.csv"):
        if candidate.is_file():
            return candidate
    pytest.skip("the shared news archive is not available (CTX_NEWS_ARCHIVE / CTX_DATA_DIR)")


@pytest.fixture(scope="session")
def sentiment_archive() -> Path:
    for candidate in _archive_candidates("CTX_SENTIMENT_ARCHIVE", "sentiment/fear_and_greed.csv"):
        if candidate.is_file():
            return candidate
    pytest.skip("the shared Fear & Greed archive is not available")


def _archive_candidates(variable: str, relative: str) -> list[Path]:
    found = []
    if value := os.environ.get(variable):
        found.append(Path(value))
    if data_dir := os.environ.get("CTX_DATA_DIR"):
        found.append(Path(data_dir).parent / relative)
    return found
