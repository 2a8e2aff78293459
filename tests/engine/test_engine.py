"""The engine's object lifecycle, listeners and external stores."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from context_service.engine import (
    ENGINE_VERSION,
    ContextEngine,
    InMemoryStore,
    LanePolicy,
    LaneSelector,
    Synthesis,
    default_lanes,
)
from context_service.engine.samples import T0, constraint, mixed_corpus, news


def test_upsert_merges_by_id_and_synthesis_shows_the_latest_version(engine):
    first = engine.upsert(news(1, summary="ETF decision due", observed_at=T0), now=T0)
    later = T0 + timedelta(hours=1)
    second = engine.upsert(news(1, summary="ETF approved", observed_at=T0), now=later)
    assert second.created_at == first.created_at == T0
    assert second.updated_at == later
    text = engine.synthesize(500, now=later).text
    assert "ETF approved" in text and "ETF decision due" not in text
    assert len(engine) == 1


def test_delete_removes_from_store_and_synthesis(engine):
    engine.upsert_many([news(1), news(2)], now=T0)
    assert engine.delete("news-1") is True
    assert engine.delete("news-1") is False
    assert engine.get("news-1") is None
    assert [e.id for e in engine.synthesize(500, now=T0).manifest.entries] == ["news-2"]


def test_purge_expired_archives_and_tells_listeners(engine):
    engine.upsert_many(
        [news(1, observed_at=T0, valid_until=T0 + timedelta(hours=1)), news(2, observed_at=T0)],
        now=T0,
    )
    archived = []
    engine.add_listener("archived", archived.append)
    purged = engine.purge_expired(now=T0 + timedelta(hours=2))
    assert [obj.id for obj in purged] == ["news-1"] == [obj.id for obj in archived]
    assert engine.get("news-1") is None and len(engine) == 1


def test_listeners_hear_upserts_and_syntheses(engine):
    heard: list = []
    engine.add_listener("upserted", lambda obj: heard.append(("upserted", obj.id)))
    engine.add_listener("synthesized", lambda syn: heard.append(("synthesized", syn)))
    engine.upsert(news(1), now=T0)
    result = engine.synthesize(500, now=T0)
    assert heard[0] == ("upserted", "news-1")
    assert heard[1][0] == "synthesized" and heard[1][1] is result
    assert isinstance(result, Synthesis)


def test_a_failing_listener_is_logged_and_never_breaks_synthesis(engine, caplog):
    def broken(_payload):
        raise RuntimeError("listener exploded")

    later: list = []
    for event in ("upserted", "synthesized", "archived"):
        engine.add_listener(event, broken)
    engine.add_listener("synthesized", later.append)
    with caplog.at_level(logging.ERROR, logger="context_service.engine.engine"):
        engine.upsert(news(1, observed_at=T0, valid_until=T0 + timedelta(hours=1)), now=T0)
        result = engine.synthesize(500, now=T0)
        engine.purge_expired(now=T0 + timedelta(hours=2))
    assert "[news-1]" in result.text
    assert later == [result]  # listeners after the broken one still ran
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 3
    assert all("listener" in message and "failed" in message for message in failures)


def test_unknown_event_is_refused(engine):
    with pytest.raises(ValueError, match="unknown event"):
        engine.add_listener("deleted", print)  # type: ignore[arg-type]


def test_an_external_store_is_reconciled_before_synthesis():
    """Another writer (e.g. a second process on the Redis store) changes the store directly."""
    store = InMemoryStore()
    store.upsert(news(1, summary="seen at start", observed_at=T0), now=T0)
    engine = ContextEngine(store=store)
    assert "seen at start" in engine.synthesize(500, now=T0).text
    store.upsert(news(1, summary="changed elsewhere", observed_at=T0), now=T0 + timedelta(1))
    store.upsert(news(2, summary="added elsewhere", observed_at=T0), now=T0)
    text = engine.synthesize(500, now=T0).text
    assert "changed elsewhere" in text and "added elsewhere" in text
    assert "seen at start" not in text
    store.delete("news-2")
    assert "added elsewhere" not in engine.synthesize(500, now=T0).text


def test_manifest_describes_the_run(engine):
    engine.upsert_many([news(1), constraint(1)], now=T0)
    manifest = engine.synthesize(700, now=T0).manifest
    assert manifest.engine_version == ENGINE_VERSION
    assert manifest.budget == 700 and manifest.model == "gpt-4.1-mini"
    assert manifest.encoding in ("o200k_base", "cl100k_base", "utf8-bytes")
    assert len(manifest.content_hash) == 64
    assert set(manifest.lanes) == {lane.name for lane in default_lanes()}
    entry = manifest.entry("risk-1")
    assert set(entry.components) == {"severity", "confidence", "priority", "recency", "pinned"}
    # A manifest survives a JSON round trip, entries included (the audit trail stores it).
    again = type(manifest).model_validate_json(manifest.model_dump_json())
    assert again == manifest and again.entries == manifest.entries


@pytest.mark.parametrize(
    ("lanes", "message"),
    [
        ([], "at least one lane"),
        (default_lanes() + default_lanes()[:1], "lane names must be unique"),
        (
            [lane.model_copy(update={"floor": 0.5}) for lane in default_lanes()],
            "floors of the enabled lanes add up to 3.00",
        ),
    ],
)
def test_bad_lane_sets_are_refused_with_a_clear_message(lanes, message):
    with pytest.raises(ValueError, match=message):
        ContextEngine(lanes=lanes)


def test_lane_policy_validation():
    with pytest.raises(ValueError, match=r"floor 0\.6 is above its cap 0\.5"):
        LanePolicy(name="x", selectors=[LaneSelector()], floor=0.6, cap=0.5)
    with pytest.raises(ValueError, match="at least one lane weight"):
        LanePolicy.model_validate(
            {
                "name": "x",
                "selectors": [{}],
                "weights": {
                    "w_severity": 0,
                    "w_confidence": 0,
                    "w_priority": 0,
                    "w_recency": 0,
                    "w_pinned_boost": 0,
                },
            }
        )
    with pytest.raises(ValueError, match="unknown lane"):
        ContextEngine().set_lane_mode("gossip", "muted")


def test_included_entries_alone_match_the_full_manifest(engine):
    engine.upsert_many([news(i, observed_at=T0) for i in range(200)], now=T0)
    engine.upsert(constraint(1), now=T0)
    cheap = engine.synthesize(600, now=T0).manifest.included_entries()
    full = engine.synthesize(600, now=T0).manifest
    assert cheap == [e for e in full.entries if e.outcome == "included"]
    assert 0 < len(cheap) < len(full.entries)
    assert full.included_entries() == cheap  # same answer once every entry was built


def test_included_ids_without_entries_match_the_entries():
    """The audit's included ids come from the engine's columns; the entries say the same."""
    engine = ContextEngine()
    engine.upsert_many(mixed_corpus(400), now=T0)
    fast = engine.synthesize(600, now=T0).manifest.included_ids()
    manifest = engine.synthesize(600, now=T0).manifest
    from_entries = [entry.id for entry in manifest.entries if entry.outcome == "included"]
    assert fast == from_entries
    assert 0 < len(fast) < 400  # some objects were dropped for the budget
