"""As-of synthesis sees nothing from its future, nothing expired and nothing undated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from context_service.engine.samples import T0, constraint, news, ta_snapshot

AS_OF = T0


@pytest.fixture
def loaded(engine):
    engine.upsert_many(
        [
            news(1, observed_at=AS_OF - timedelta(hours=2)),  # visible
            news(2, observed_at=AS_OF),  # visible: observed exactly at as_of
            news(3, observed_at=AS_OF + timedelta(seconds=1)),  # the future
            news(4, observed_at=AS_OF - timedelta(hours=5), valid_until=AS_OF),  # expired
            news(5, observed_at=None),  # undated
            constraint(1),  # undated too: not admissible in as-of mode
            ta_snapshot("BTC/USDT", AS_OF - timedelta(hours=1)),
            ta_snapshot("BTC/USDT", AS_OF + timedelta(hours=1)),
        ],
        now=AS_OF + timedelta(days=1),
    )
    return engine


def test_as_of_admits_only_what_was_known_and_valid_then(loaded):
    result = loaded.synthesize(4000, as_of=AS_OF)
    reasons = {entry.id: entry.reason for entry in result.manifest.entries}
    future_ta = ta_snapshot("BTC/USDT", AS_OF + timedelta(hours=1)).id
    past_ta = ta_snapshot("BTC/USDT", AS_OF - timedelta(hours=1)).id
    assert reasons == {
        "news-1": None,
        "news-2": None,
        "news-3": "not-yet-observed",
        "news-4": "stale",
        "news-5": "not-yet-observed",
        "risk-1": "not-yet-observed",
        past_ta: None,
        future_ta: "not-yet-observed",
    }
    for hidden in ("news-3", "news-4", "news-5", "risk-1", future_ta):
        assert f"[{hidden}]" not in result.text
    assert result.manifest.as_of == AS_OF
    assert result.manifest.scored_at == AS_OF


def test_recency_is_measured_from_as_of_not_from_the_wall_clock(loaded):
    early = loaded.synthesize(4000, as_of=AS_OF).manifest.entry("news-2")
    later = loaded.synthesize(4000, as_of=AS_OF + timedelta(hours=6)).manifest.entry("news-2")
    assert early.components["recency"] == 1.0
    assert later.components["recency"] == pytest.approx(0.5, abs=1e-6)  # news half-life 6 h


def test_live_mode_sees_undated_but_not_expired(loaded):
    result = loaded.synthesize(4000, now=AS_OF + timedelta(minutes=1))
    reasons = {entry.id: entry.reason for entry in result.manifest.entries}
    assert reasons["news-5"] is None and reasons["risk-1"] is None
    assert reasons["news-4"] == "stale"
    assert result.manifest.as_of is None


def test_manifest_id_depends_on_as_of_and_budget(loaded):
    first = loaded.synthesize(4000, as_of=AS_OF).manifest
    again = loaded.synthesize(4000, as_of=AS_OF).manifest
    other_budget = loaded.synthesize(3999, as_of=AS_OF).manifest
    assert first.manifest_id == again.manifest_id
    assert first.content_hash == other_budget.content_hash  # same text: everything fits
    assert first.manifest_id != other_budget.manifest_id


def test_naive_as_of_is_refused_with_a_clear_message(engine):
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.synthesize(500, as_of=AS_OF.replace(tzinfo=None))
