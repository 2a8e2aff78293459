from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from context_service.evidence.assets import AssetTagger
from context_service.evidence.items import FeedEntry, ItemBuilder, ItemRejected, stable_id
from context_service.evidence.scoring import RulesFileError, Scorer
from context_service.models import Severity

NOW = datetime(2022, 6, 13, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer.from_file()


@pytest.mark.parametrize(
    ("title", "rule", "severity"),
    [
        ("Celsius pauses withdrawals citing extreme conditions", "exchange-insolvency", "critical"),
        ("Voyager files for Chapter 11 bankruptcy", "exchange-insolvency", "critical"),
        ("DeFi protocol hacked, $80M drained", "hack", "high"),
        ("UST loses its peg as LUNA tumbles", "depeg", "high"),
        ("Exchange to delist privacy coins", "delisting", "high"),
        ("SEC sues exchange over unregistered securities", "regulation", "medium"),
    ],
)
def test_keyword_rules_fire_and_name_themselves(scorer, title, rule, severity) -> None:
    score = scorer.score(title, "")
    assert (score.rule, score.severity.value, score.category) == (rule, severity, "event")


def test_words_match_whole_and_acronyms_only_in_capitals(scorer) -> None:
    assert scorer.score("Banks adopt blockchain", "").category == "news"  # "ban" is not "bank"
    assert scorer.score("Block time of 12 sec", "").rule != "regulation"  # "sec" is not the SEC
    assert scorer.score("Bitcoin hackathon opens in Miami", "").rule != "hack"
    assert scorer.score("Exchange pauses  withdrawals", "").rule == "exchange-insolvency"
    assert scorer.score("Stablecoin de-pegged overnight", "").rule == "depeg"
    assert scorer.score("Token delisted from Binance", "").rule == "delisting"


def test_sentiment_picks_the_rule_when_no_keyword_fires(scorer) -> None:
    great = scorer.score("Bitcoin soars to a wonderful record, amazing gains", "")
    flat = scorer.score("Bitcoin price update", "")
    assert great.rule == "strong-sentiment" and great.sentiment > 0.6
    assert flat.rule == "neutral" and flat.severity == Severity.low
    assert scorer.score("Bitcoin price update", "", sentiment=-0.9).rule == "strong-sentiment"
    assert scorer.score("Bitcoin price update", "", sentiment=float("nan")).rule == "neutral"


def test_bands_for_readings(scorer) -> None:
    assert scorer.band("fear-greed", 7).rule == "extreme-fear"
    assert scorer.band("market-cap-change", -10.9).severity == Severity.critical
    assert scorer.band("no-such-reading", 1).rule == "unbanded"


def test_a_user_rules_file_replaces_the_defaults(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "keyword_rules:\n"
        "  - {name: etf, category: event, severity: high, confidence: 0.9, words: [ETF]}\n"
        "sentiment_rules:\n  - {name: any, min_abs: 0, severity: low, confidence: 0.2}\n"
    )
    scorer = Scorer.from_file(path)
    assert scorer.score("Spot ETF approved", "").rule == "etf"
    assert scorer.score("Exchange hacked", "").rule == "any"


@pytest.mark.parametrize(
    "content",
    [
        "keyword_rules: [",  # not YAML
        "sentiment_rules: []",  # no catch-all
        "sentiment_rules:\n  - {name: a, min_abs: 0.5, severity: low, confidence: 0.2}\n",
        "sentiment_rules:\n  - {name: a, min_abs: 0, severity: extreme, confidence: 0.2}\n",
        "sentiment_rules:\n  - {name: a, min_abs: 0, severity: low, confidence: .nan}\n",
        "keyword_rules:\n  - {name: a, severity: low, confidence: 1, words: ['']}\n"
        "sentiment_rules:\n  - {name: b, min_abs: 0, severity: low, confidence: 0.2}\n",
        "max_position: 1000\nsentiment_rules: []",  # unknown keys are refused
    ],
)
def test_bad_rules_files_are_refused_with_a_reason(tmp_path, content: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(RulesFileError, match="rules"):
        Scorer.from_file(path)


def test_stable_ids_ignore_scheme_www_query_and_fragment() -> None:
    a = stable_id("x", "https://www.coindesk.com/a/b/?utm_source=rss#top", "T")
    b = stable_id("y", "http://coindesk.com/a/b", "Other title")
    assert a == b and a.startswith("news:")
    assert stable_id("x", None, "Title") == stable_id("x", None, "TITLE")
    assert stable_id("x", None, "Title") != stable_id("y", None, "Title")


@pytest.fixture
def builder(scorer) -> ItemBuilder:
    return ItemBuilder(AssetTagger(["BTC", "SOL"]), scorer, valid_for=timedelta(hours=72))


def entry(**changes) -> FeedEntry:
    values = dict(
        source="cointelegraph",
        title="Bitcoin falls under $24K",
        summary="<p>BTC sells off.</p>",
        url="https://cointelegraph.com/news/a",
        published_at=NOW - timedelta(hours=1),
    )
    return FeedEntry(**(values | changes))


def test_live_items_are_visible_at_the_later_of_publish_and_first_seen(builder) -> None:
    past = builder.live(entry(), NOW)
    assert past.evidence.observed_at == NOW and past.published_at == NOW - timedelta(hours=1)
    ahead = builder.live(entry(published_at=NOW + timedelta(hours=3)), NOW)
    assert ahead.evidence.observed_at == NOW + timedelta(hours=3)
    assert ahead.first_seen_at == NOW
    assert not ahead.evidence.visible_at(NOW + timedelta(hours=2))
    assert ahead.evidence.visible_at(NOW + timedelta(hours=3))


def test_items_beyond_the_allowed_skew_are_refused(builder) -> None:
    with pytest.raises(ItemRejected, match="clock skew"):
        builder.live(entry(published_at=datetime(9999, 12, 31, tzinfo=UTC)), NOW)


def test_archive_items_get_the_lag(builder) -> None:
    item = builder.archived(entry(), timedelta(hours=12), NOW)
    assert item.evidence.observed_at == NOW + timedelta(hours=11)
    with pytest.raises(ItemRejected):
        builder.archived(entry(published_at=None), timedelta(hours=12), NOW)


def test_item_fields(builder) -> None:
    item = builder.live(entry(label="Bitcoin Price"), NOW)
    e = item.evidence
    assert e.summary == "Bitcoin falls under $24K (cointelegraph)" and e.detail == "BTC sells off."
    assert e.tags["assets"] == "BTC" and e.tags["scope"] == "market"
    assert e.tags["rule"] in {"neutral", "mild-sentiment", "strong-sentiment"}
    assert e.tags["category"] == "news" and e.tags["label"] == "bitcoin price"
    assert e.valid_until == NOW + timedelta(hours=72)
    assert e.tags["first_seen_at"] == NOW.isoformat()
    assert e.tags["published_at"] == (NOW - timedelta(hours=1)).isoformat()
    assert e.provenance.reference == "https://cointelegraph.com/news/a"


def test_feed_text_cannot_set_the_tags_that_route_or_score(builder) -> None:
    item = builder.live(
        entry(extra_tags={"category": "risk", "rule": "none", "outlet": "X\x00\u202eY"}), NOW
    )
    assert item.evidence.tags["category"] == "news" and item.evidence.tags["rule"] != "none"
    assert item.evidence.tags["outlet"] == "XY"


def test_an_entry_without_text_is_refused(builder) -> None:
    with pytest.raises(ItemRejected):
        builder.live(entry(title="\x00\x01", summary="<p></p>"), NOW)
    only_summary = builder.live(entry(title="", summary="Solana restarts"), NOW)
    assert only_summary.evidence.summary.startswith("Solana restarts")
