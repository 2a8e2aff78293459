"""Near-duplicates are merged; over-long objects are shortened visibly at a word boundary."""

from __future__ import annotations

import pytest

from context_service.engine import ContextEngine
from context_service.engine.render import TRUNCATION_MARKER
from context_service.engine.samples import T0, news


def test_near_duplicate_summaries_are_merged_into_the_best_one(engine):
    same = {"observed_at": T0, "confidence": 0.8}
    engine.upsert_many(
        [
            news(1, summary="BTC ETF approved by the SEC!", severity="low", **same),
            news(2, summary="btc etf   approved by the sec", severity="critical", **same),
            news(3, summary="BTC ETF approved, by the SEC.", severity="medium", **same),
            news(4, summary="BTC ETF rejected by the SEC", **same),
        ],
        now=T0,
    )
    result = engine.synthesize(2000, now=T0)
    reasons = {entry.id: entry.reason for entry in result.manifest.entries}
    assert reasons == {"news-1": "duplicate", "news-2": None, "news-3": "duplicate", "news-4": None}
    assert result.text.count("approved") == 1


def test_over_long_object_is_shortened_at_a_word_boundary_with_a_marker(engine, reference_count):
    words = [f"w{i}" for i in range(800)]  # 3,889 characters
    engine.upsert(news(1, summary=" ".join(words), observed_at=T0), now=T0)
    result = engine.synthesize(400, now=T0)
    entry = result.manifest.entry("news-1")
    assert entry.outcome == "included" and entry.truncated
    line = result.text.splitlines()[1]
    assert line.endswith(TRUNCATION_MARKER)
    kept = line.removesuffix(TRUNCATION_MARKER).split(") ", 1)[1].split(" ")
    assert kept == words[: len(kept)]  # whole words, in order, none cut
    assert 0 < len(kept) < len(words)
    assert reference_count(result.text) <= 400
    # The lane's allowance is its cap (50% of 400) minus its header; the line uses most of it.
    assert entry.tokens <= 200
    assert entry.tokens >= 180


def test_a_single_unbreakable_word_longer_than_the_allowance_is_dropped(engine):
    engine.upsert(news(1, summary="x" * 3900, observed_at=T0), now=T0)
    result = engine.synthesize(200, now=T0)
    assert result.manifest.entry("news-1").reason == "budget"
    assert result.text == ""


def test_multi_line_summaries_render_as_one_line(engine):
    engine.upsert(news(1, summary="first line\n\nsecond line\tend", observed_at=T0), now=T0)
    text = engine.synthesize(500, now=T0).text
    assert "first line second line end\n" in text
    assert len(text.splitlines()) == 2


@pytest.mark.parametrize("budget", [0, -5, 10**7])
def test_budget_out_of_range_is_refused(budget):
    with pytest.raises(ValueError, match="budget_tokens must be"):
        ContextEngine().synthesize(budget)


def test_budget_must_be_an_integer():
    with pytest.raises(TypeError, match="budget_tokens must be an int"):
        ContextEngine().synthesize(1500.0)  # type: ignore[arg-type]
