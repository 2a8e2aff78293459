"""Archive readers on recorded extracts, hostile archive files, and the point-in-time check over
the real archive (skipped when the shared data is absent)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from context_service.engine import ContextEngine
from context_service.engine.store import InMemoryStore
from context_service.evidence.archives import (
    ArchiveError,
    archive_polarity,
    parse_news_date,
    read_news,
    read_sentiment,
)
from context_service.evidence.ingest import Ingestor

from .conftest import FIXTURES

IMPORTED_AT = datetime(2026, 1, 1, tzinfo=UTC)
LAG = timedelta(hours=12)


@pytest.fixture
def builder(components):
    return components.builder(valid_for=timedelta(hours=72))


def test_news_extract(builder) -> None:
    read = read_news(FIXTURES / "cryptonews-extract.csv", builder, LAG, IMPORTED_AT)
    assert read.rows == 40 and len(read.items) == 40 and not read.skipped
    first = read.items[-1]  # sorted by publish time: the newest row of the file comes last
    assert first.published_at == datetime(2022, 7, 5, 4, 24, tzinfo=UTC)
    assert first.evidence.observed_at == first.published_at + LAG
    assert first.evidence.tags["feed"] == "CryptoNews" and first.evidence.tags["label"] == "bitcoin"
    assert first.evidence.tags["archive_polarity"] == "+0.000"
    assert first.evidence.tags["assets"] == "BTC,CEL,ETH"


def test_literal_escapes_of_the_archive() -> None:
    from context_service.evidence.archives import unescape_literals

    raw = r"courts made a \x9cworking rule\x9d \x93 see\xa0more\u200b \x82"
    assert unescape_literals(raw) == "courts made a “working rule” – see more\u200b "


def test_dates_and_polarity_parsing() -> None:
    assert parse_news_date("5-7-2022 04:24") == datetime(2022, 7, 5, 4, 24, tzinfo=UTC)
    for bad in ("2022-07-05 04:24", "31-2-2022 10:00", "5-7-2022", "5-7-2022 04:24\n9"):
        with pytest.raises(ValueError):
            parse_news_date(bad)
    assert archive_polarity("{'class': 'negative', 'polarity': -0.25, 'x': 1}") == -0.25
    assert archive_polarity("garbage") is None


def test_hostile_news_rows_are_skipped_and_counted(tmp_path, builder) -> None:
    header = "date;sentiment;source;subject;text;title;url\n"
    rows = [
        "5-7-2022 04:24;{};CoinTelegraph;bitcoin;Fine text;Good title;https://a.com/1",
        "99-99-2022 04:24;{};CoinTelegraph;bitcoin;x;Bad date;https://a.com/2",
        "5-7-9999 04:24;{};CoinTelegraph;bitcoin;x;Far future;https://a.com/3",
        "5-7-2022 04:24;{};CoinTelegraph;bitcoin;;;https://a.com/4",
        "5-7-2022 05:00;{'polarity': nan};\x00Evil\x1b;nft;"
        + "A" * 100_000
        + ";T\x07;javascript:x",
    ]
    path = tmp_path / "news.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    read = read_news(path, builder, LAG, datetime(2022, 8, 1, tzinfo=UTC))
    assert read.rows == 5 and len(read.items) == 2
    assert sum(read.skipped.values()) == 3
    evil = read.items[1].evidence
    assert evil.tags["feed"] == "Evil" and len(evil.detail or "") <= 600
    assert evil.provenance.reference is None


@pytest.mark.parametrize(
    "content",
    ["", "a,b,c\n1,2,3\n", "date;value\n", "\x00\x01\x02"],
)
def test_files_that_are_no_archive_are_refused(tmp_path, builder, content: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(ArchiveError):
        read_news(path, builder, LAG, IMPORTED_AT)
    with pytest.raises(ArchiveError):
        read_sentiment(path, builder.scorer, LAG, IMPORTED_AT)
    with pytest.raises(ArchiveError, match="no such file"):
        read_news(tmp_path / "missing.csv", builder, LAG, IMPORTED_AT)


def test_sentiment_extract_and_bad_rows(tmp_path, components) -> None:
    read = read_sentiment(
        FIXTURES / "fear_and_greed-extract.csv", components.scorer, timedelta(hours=1), IMPORTED_AT
    )
    assert read.rows == 40 and len(read.items) == 40
    day = read.items[0]
    assert day.evidence.observed_at == day.published_at + timedelta(hours=1)
    path = tmp_path / "fg.csv"
    path.write_text(
        "date,value,value_classification\n2022-06-01T00:00:00Z,NaN,Fear\n"
        "2022-06-01,20,Fear\n9999-01-01T00:00:00Z,20,Fear\n2022-06-02T00:00:00Z,150,x\n"
        "2022-06-03T00:00:00Z,31,Fear\n"
    )
    read = read_sentiment(path, components.scorer, timedelta(hours=1), IMPORTED_AT)
    assert [i.evidence.id for i in read.items] == ["fng:2022-06-03"]
    assert sum(read.skipped.values()) == 4


def test_importing_twice_stores_nothing_new(builder) -> None:
    store = InMemoryStore()
    read = read_news(FIXTURES / "cryptonews-extract.csv", builder, LAG, IMPORTED_AT)
    first = Ingestor(store).ingest(read.items)
    snapshot = {o.id: o.model_dump() for o in store.all()}
    Ingestor(store).ingest(read.items)  # a second run of the import
    assert len(store) == first.stored == len(snapshot)
    assert {o.id: o.model_dump(exclude={"updated_at"}) for o in store.all()} == {
        k: {f: v for f, v in d.items() if f != "updated_at"} for k, d in snapshot.items()
    }


@pytest.mark.shared_data
def test_point_in_time_over_the_real_archive(news_archive, sentiment_archive, components) -> None:
    """Thousands of random decision times: nothing included was observed after ``as_of``, and
    every news item became visible exactly its lag after its stated time."""
    lag = components.settings.archive_lag("news")
    news = read_news(news_archive, components.builder(timedelta(hours=72)), lag, IMPORTED_AT)
    days = read_sentiment(sentiment_archive, components.scorer, timedelta(hours=1), IMPORTED_AT)
    assert len(news.items) > 7000 and len(days.items) > 2000
    engine = ContextEngine()
    engine.upsert_many([item.evidence for item in news.items + days.items])
    published = {i.evidence.id: i.published_at for i in news.items + days.items}
    rng = random.Random(20221012)
    start = datetime(2021, 10, 12, tzinfo=UTC).timestamp()
    end = datetime(2022, 7, 6, tzinfo=UTC).timestamp()
    included_news = 0
    for _ in range(3000):
        as_of = datetime.fromtimestamp(rng.uniform(start, end), UTC).replace(microsecond=0)
        synthesis = engine.synthesize(1500, as_of=as_of)
        for object_id in synthesis.manifest.included_ids():
            obj = engine.get(object_id)
            assert obj.observed_at <= as_of, (object_id, obj.observed_at, as_of)
            if object_id.startswith("news:"):
                included_news += 1
                assert obj.observed_at == published[object_id] + lag
                assert published[object_id] + lag <= as_of
    assert included_news > 3000  # the check is not vacuous: news reached the decisions
