"""The rendered text never exceeds the budget, counted exactly on the final text."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from context_service.engine import ContextEngine, LanePolicy, LaneWeights, default_lanes
from context_service.engine.bundled_encodings import bundled_encoding
from context_service.engine.samples import T0
from context_service.models import Constraint, Evidence, Goal, Insight

CATEGORIES = ("news", "event", "market-data", "risk", "other", None)
_fragments = st.sampled_from(
    [" ", "  ", "\n", "BTC", "ETH/USDT", "+4.2%", "…", "🚀", "<|endoftext|>", "rally", "."]
)
summaries = (
    st.lists(st.text(max_size=12) | _fragments, min_size=1, max_size=60)
    .map("".join)
    .filter(lambda text: text.strip() and len(text) <= 4000)
)


@st.composite
def knowledge_objects(draw, index: int):
    kind = draw(
        st.sampled_from(["evidence", "evidence", "evidence", "goal", "constraint", "insight"])
    )
    category = draw(st.sampled_from(CATEGORIES))
    common = {
        "id": f"obj-{index}",
        "summary": draw(summaries),
        "provenance": {"source": "test"},
        "tags": {} if category is None else {"category": category},
        "pinned": draw(st.booleans()),
        "observed_at": draw(
            st.none() | st.integers(-500, 500).map(lambda h: T0 + timedelta(hours=h))
        ),
    }
    if kind in ("evidence", "insight"):
        common["severity"] = draw(st.sampled_from(["low", "medium", "high", "critical"]))
        common["confidence"] = draw(st.floats(0, 1))
        return (Evidence if kind == "evidence" else Insight).model_validate(common)
    common["priority"] = draw(st.sampled_from(["p0", "p1", "p2", "p3"]))
    if kind == "constraint":
        return Constraint.model_validate(common | {"hard": draw(st.booleans())})
    return Goal.model_validate(common)


@st.composite
def object_sets(draw):
    count = draw(st.integers(0, 40))
    return [draw(knowledge_objects(index)) for index in range(count)]


@st.composite
def lane_sets(draw):
    lanes = draw(st.permutations(default_lanes()))
    keep = draw(st.integers(1, len(lanes)))
    chosen = []
    floor_left = 1.0
    for lane in lanes[:keep]:
        floor = draw(st.floats(0, min(floor_left, 0.6)))
        cap = draw(st.floats(max(floor, 0.01), 1))
        mode = draw(st.sampled_from(["enabled", "enabled", "enabled", "muted", "disabled"]))
        if mode == "enabled":
            floor_left -= floor
        weights = LaneWeights(
            w_severity=draw(st.floats(0, 3)),
            w_confidence=draw(st.floats(0, 3)),
            w_priority=draw(st.floats(0, 3)),
            w_recency=draw(st.floats(0, 3)),
            w_pinned_boost=draw(st.floats(0.01, 3)),
        )
        chosen.append(
            lane.model_copy(
                update={
                    "floor": floor,
                    "cap": cap,
                    "mode": mode,
                    "weights": weights,
                    "strict_cap": draw(st.booleans()),
                    "half_life_hours": draw(st.none() | st.floats(0.1, 1000)),
                }
            )
        )
    return [LanePolicy.model_validate(lane.model_dump()) for lane in chosen]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    objects=object_sets(),
    lanes=lane_sets(),
    budget=st.integers(50, 8000),
    as_of=st.none() | st.integers(-600, 600).map(lambda h: T0 + timedelta(hours=h)),
)
def test_rendered_text_never_exceeds_the_budget(objects, lanes, budget, as_of):
    engine = ContextEngine(lanes=lanes)
    engine.upsert_many(objects, now=T0)
    result = engine.synthesize(budget, as_of=as_of, now=T0)

    name = result.manifest.encoding
    if name == "utf8-bytes":
        exact = len(result.text.encode("utf-8"))
    else:
        exact = len(bundled_encoding(name).encode_ordinary(result.text))
    assert exact <= budget
    assert result.manifest.total_tokens == exact
    # Every object is accounted for exactly once, and what is included is what is shown.
    entries = result.manifest.entries
    assert sorted(entry.id for entry in entries) == sorted(obj.id for obj in objects)
    for entry in entries:
        shown = f"- [{entry.id}] " in result.text
        assert shown == (entry.outcome == "included"), entry
        assert (entry.reason is None) == (entry.outcome == "included")
        assert 0.0 <= entry.score <= 1.0
        assert all(0.0 <= value <= 1.0 for value in entry.components.values())
    lane_tokens = sum(totals.tokens for totals in result.manifest.lanes.values())
    assert lane_tokens == exact
