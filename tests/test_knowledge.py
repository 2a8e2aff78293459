"""The bot's knowledge file: standing goals and constraints, validated before anything runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from context_service.knowledge import KnowledgeFileError, load_knowledge_file
from context_service.models import Constraint, Goal

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str, name: str = "k.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_knowledge_file_is_valid_and_dated():
    objects = load_knowledge_file(REPO / "user_data" / "knowledge" / "strategy.yaml")
    assert {type(o) for o in objects} == {Goal, Constraint}
    assert all(o.observed_at == datetime(2020, 1, 1, tzinfo=UTC) for o in objects)
    assert all(o.provenance.source == "trader" for o in objects)
    assert any(isinstance(o, Constraint) and o.hard for o in objects)


def test_every_bad_object_is_named_by_index_and_id(tmp_path):
    path = _write(
        tmp_path,
        """
observed_at: 2021-01-01T00:00:00Z
objects:
  - {kind: goal, id: fine, summary: ok}
  - {kind: goal, id: bad-priority, summary: x, priority: p9}
  - {kind: constraint, id: empty, summary: "  "}
""",
    )
    with pytest.raises(KnowledgeFileError) as info:
        load_knowledge_file(path)
    message = str(info.value)
    assert "2 invalid objects" in message
    assert "objects[1] (id 'bad-priority'): priority" in message
    assert "objects[2] (id 'empty'): summary" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("objects: []\nextra: 1", "unknown top-level keys ['extra']"),
        ("- just a list", "expected a mapping with an 'objects' list"),
        ("observed_at: 2021-01-01T00:00:00\nobjects: []", "timezone-aware"),
        (
            "objects: [{kind: goal, id: a, summary: s}, {kind: goal, id: a, summary: t}]",
            "repeated: a",
        ),
        ("objects: [: bad", "is not valid yaml"),
    ],
)
def test_file_level_problems_are_clear(tmp_path, text, expected):
    with pytest.raises(KnowledgeFileError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load_knowledge_file(_write(tmp_path, text))


def test_json_files_and_per_object_dates(tmp_path):
    path = _write(
        tmp_path,
        '{"source": "desk", "objects": [{"kind": "evidence", "id": "e1", "summary": "s",'
        ' "observed_at": "2022-05-01T10:00:00+02:00", "tags": {"category": "risk"}}]}',
        name="k.json",
    )
    (item,) = load_knowledge_file(path)
    assert item.observed_at == datetime(2022, 5, 1, 8, tzinfo=UTC)
    assert item.provenance.source == "desk"


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(KnowledgeFileError, match="cannot read knowledge file"):
        load_knowledge_file(tmp_path / "nope.yaml")


def test_the_adjustments_section_sets_the_limits_of_llm_adjustments(tmp_path):
    from context_service.knowledge import load_adjustment_limits

    path = _write(
        tmp_path,
        """
objects: []
adjustments:
  min_confidence: [0.55, 0.9]
  stake_fraction: false
  pause_pair: {max_hours: 48}
""",
    )
    limits = load_adjustment_limits(path)
    assert limits is not None
    assert limits.min_confidence == (0.55, 0.9)
    assert limits.stake_fraction is False
    assert limits.pause_pair and limits.pause_pair.max_hours == 48
    assert load_adjustment_limits(_write(tmp_path, "objects: []\n", "none.yaml")) is None
    shipped = load_adjustment_limits(REPO / "user_data" / "knowledge" / "strategy.yaml")
    assert shipped is None or shipped.stake_fraction is not False


def test_a_bad_adjustments_section_names_every_field(tmp_path):
    from context_service.knowledge import load_adjustment_limits

    path = _write(
        tmp_path,
        """
objects: []
adjustments:
  min_confidence: [0.9, 0.2]
  stake_fraction: [0.5, .inf]
  stop_loss: [0.1, 0.2]
""",
    )
    with pytest.raises(KnowledgeFileError) as failure:
        load_adjustment_limits(path)
    message = str(failure.value)
    assert "invalid adjustments settings" in message
    assert "adjustments.min_confidence" in message
    assert "adjustments.stake_fraction" in message
    assert "adjustments.stop_loss: Extra inputs are not permitted" in message
    with pytest.raises(KnowledgeFileError, match="adjustments: must be a mapping"):
        load_adjustment_limits(_write(tmp_path, "objects: []\nadjustments: [1]\n", "l.yaml"))
