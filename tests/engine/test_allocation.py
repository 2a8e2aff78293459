"""How the budget is shared: fill, floors, caps, muted and disabled lanes."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from context_service.engine import ContextEngine, default_lanes
from context_service.engine.allocation import MIN_TAIL_TOKENS
from context_service.engine.render import TRUNCATION_MARKER, compact_prefix, render_line
from context_service.engine.samples import (
    PAIRS,
    T0,
    constraint,
    goal,
    insight,
    mixed_corpus,
    news,
    ta_snapshot,
)


@pytest.mark.parametrize("budget", [500, 800, 1500, 3000, 8000])
def test_budget_is_at_least_95_percent_used_when_candidates_exceed_it(budget):
    engine = ContextEngine()
    engine.upsert_many(mixed_corpus(3000), now=T0)
    result = engine.synthesize(budget, now=T0)
    assert budget * 0.95 <= result.manifest.total_tokens <= budget
    assert any(entry.reason == "budget" for entry in result.manifest.entries)


@pytest.mark.parametrize("budget", [500, 1500])
def test_a_single_busy_lane_still_fills_the_budget_beyond_its_cap(budget):
    """Caps hold back a lane only while other lanes have something that fits."""
    engine = ContextEngine()
    engine.upsert_many([news(i) for i in range(400)], now=T0)
    result = engine.synthesize(budget, now=T0)
    news_lane = result.manifest.lanes["news-sentiment"]
    assert news_lane.tokens > news_lane.cap_tokens
    assert result.manifest.total_tokens >= budget * 0.95


def test_strict_cap_is_never_passed():
    lanes = [
        lane.model_copy(update={"strict_cap": True}) if lane.name == "news-sentiment" else lane
        for lane in default_lanes()
    ]
    engine = ContextEngine(lanes=lanes)
    engine.upsert_many([news(i) for i in range(400)], now=T0)
    result = engine.synthesize(1500, now=T0)
    news_lane = result.manifest.lanes["news-sentiment"]
    assert 0 < news_lane.tokens <= news_lane.cap_tokens == 750


def _flood_and_keepers() -> list:
    flood = [
        news(i, severity="critical", confidence=0.95, observed_at=T0, pinned=True)
        for i in range(5000)
    ]
    # Low-priority rules and goals: on score alone the flood outranks every one of them.
    keepers = [constraint(i, priority="p3", hard=False) for i in range(30)]
    keepers += [goal(i, priority="p3") for i in range(20)]
    return flood + keepers


def test_a_flood_of_high_severity_news_leaves_risk_and_strategy_their_floors():
    engine = ContextEngine()
    engine.upsert_many(_flood_and_keepers(), now=T0)
    result = engine.synthesize(1500, now=T0)
    lanes = result.manifest.lanes
    assert (lanes["risk-factors"].floor_tokens, lanes["strategy"].floor_tokens) == (225, 150)
    for name in ("risk-factors", "strategy"):
        lane = lanes[name]
        longest = max(e.tokens for e in result.manifest.entries if e.lane == name)
        # More candidates than the floor holds: it is filled to within one line.
        assert lane.tokens > lane.floor_tokens - longest, (name, lane)
    assert lanes["news-sentiment"].included > 0
    assert result.manifest.total_tokens <= 1500


def test_without_floors_the_same_flood_crowds_risk_and_strategy_out():
    """The control experiment: it is the floors that keep those lanes alive."""
    no_floors = [lane.model_copy(update={"floor": 0.0, "cap": 1.0}) for lane in default_lanes()]
    engine = ContextEngine(lanes=no_floors)
    engine.upsert_many(_flood_and_keepers(), now=T0)
    lanes = engine.synthesize(1500, now=T0).manifest.lanes
    assert lanes["risk-factors"].included == lanes["strategy"].included == 0


def test_floors_are_not_reserved_for_lanes_without_candidates():
    engine = ContextEngine()
    engine.upsert_many([news(i) for i in range(300)], now=T0)
    result = engine.synthesize(1000, now=T0)
    assert result.manifest.lanes["risk-factors"].tokens == 0
    assert result.manifest.total_tokens >= 950


def test_best_scores_win():
    uncapped = [lane.model_copy(update={"cap": 1.0}) for lane in default_lanes()]
    engine = ContextEngine(lanes=uncapped)
    strong = news(1, severity="critical", confidence=0.95, observed_at=T0)
    weak = news(2, severity="low", confidence=0.3, observed_at=T0)
    engine.upsert_many([strong, weak], now=T0)
    count = engine.token_counter.count
    budget = count("## news-sentiment\n") + count(render_line(strong))  # room for one line
    result = engine.synthesize(budget, now=T0)
    assert result.manifest.included_ids() == ["news-1"]
    assert result.manifest.entry("news-2").reason == "budget"
    assert result.manifest.total_tokens == budget


def test_lines_within_a_lane_are_ordered_by_score():
    engine = ContextEngine()
    engine.upsert_many(
        [
            news(1, severity="low", confidence=0.3, observed_at=T0),
            news(2, severity="critical", confidence=0.9, observed_at=T0),
            news(3, severity="medium", confidence=0.6, observed_at=T0),
        ],
        now=T0,
    )
    text = engine.synthesize(1000, now=T0).text
    assert text.index("[news-2]") < text.index("[news-3]") < text.index("[news-1]")


def test_muted_lane_is_scored_and_listed_but_not_rendered(engine):
    engine.upsert_many([news(1), insight(1), constraint(1)], now=T0)
    engine.set_lane_mode("memory", "muted")
    result = engine.synthesize(1000, now=T0)
    entry = result.manifest.entry("insight-1")
    assert entry.outcome == "dropped" and entry.reason == "lane-muted"
    assert entry.score > 0 and entry.lane == "memory"
    assert "insight-1" not in result.text and "## memory" not in result.text
    assert result.manifest.lanes["memory"].mode == "muted"


def test_disabled_lane_is_not_considered(engine):
    engine.upsert_many([news(1), constraint(1)], now=T0)
    engine.set_lane_mode("risk-factors", "disabled")
    result = engine.synthesize(1000, now=T0)
    assert result.manifest.entry("risk-1").reason == "lane-disabled"
    assert "risk-1" not in result.text
    assert "news-1" in result.text


def test_objects_matching_no_lane_are_dropped_as_filter(engine):
    engine.upsert(news(1, tags={"category": "gossip"}), now=T0)
    result = engine.synthesize(500, now=T0)
    entry = result.manifest.entry("news-1")
    assert (entry.outcome, entry.reason, entry.lane) == ("dropped", "filter", None)
    assert result.text == ""


def test_lane_assignment_follows_the_seed_design(engine):
    objects = [
        constraint(1),
        news(1, id="risk-ev", tags={"category": "risk"}),
        goal(1),
        insight(1),
        ta_snapshot("BTC/USDT", T0),
        news(2, id="event-1", tags={"category": "event"}),
        news(3),
        news(4, id="untagged", tags={}),
    ]
    engine.upsert_many(objects, now=T0)
    lanes = {entry.id: entry.lane for entry in engine.synthesize(4000, now=T0).manifest.entries}
    assert lanes == {
        "risk-1": "risk-factors",
        "risk-ev": "risk-factors",
        "goal-1": "strategy",
        "insight-1": "memory",
        objects[4].id: "market-data",
        "event-1": "market-events",
        "news-3": "news-sentiment",
        "untagged": "news-sentiment",
    }


def test_pinned_objects_outrank_equal_unpinned_ones(engine):
    engine.upsert_many([news(1, observed_at=T0), news(2, observed_at=T0, pinned=True)], now=T0)
    manifest = engine.synthesize(1000, now=T0).manifest
    assert manifest.entry("news-2").components["pinned"] == 1.0
    base = news(1, observed_at=T0)
    assert base.severity == news(2).severity  # same generator, same facts
    assert manifest.entry("news-2").score > manifest.entry("news-1").score


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    budget=st.integers(500, 8000),
    news_share=st.floats(0, 1),
)
def test_fill_is_at_least_95_percent_for_mixes_of_typical_objects(seed, budget, news_share):
    """One line of news or a TA snapshot each; more of them than the budget holds."""
    engine = ContextEngine()
    engine.upsert_many(_news_and_snapshots(seed, budget // 8, news_share), now=T0)
    manifest = engine.synthesize(budget, now=T0).manifest
    assert budget * 0.95 <= manifest.total_tokens <= budget


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), budget=st.integers(300, 3000))
def test_room_left_unused_is_smaller_than_any_line_that_could_use_it(seed, budget):
    """Whatever room is left is smaller than every remaining line, even shortened to its id and
    first word."""
    engine = ContextEngine()
    engine.upsert_many(_news_and_snapshots(seed, budget // 20, 0.0), now=T0)
    result = engine.synthesize(budget, now=T0)
    unused = budget - result.manifest.total_tokens
    count = engine.token_counter.count
    for entry in result.manifest.entries:
        if entry.reason == "budget":
            obj = engine.get(entry.id)
            first_word = obj.summary.split()[0]
            shortest = count(f"{compact_prefix(obj)}{first_word}{TRUNCATION_MARKER}\n")
            assert unused < max(shortest, MIN_TAIL_TOKENS), (entry, unused)


def _news_and_snapshots(seed: int, count: int, news_share: float) -> list:
    rng = random.Random(seed)
    return [
        news(i, rng)
        if rng.random() < news_share
        else ta_snapshot(rng.choice(PAIRS), T0 - timedelta(minutes=i), rng)
        for i in range(count)
    ]
