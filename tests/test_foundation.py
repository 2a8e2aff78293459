"""The shared contracts: knowledge-object validation, key building, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from context_service.keys import InvalidBotId, Keyspace
from context_service.models import Evidence, Goal, merge_upsert, parse_knowledge
from context_service.settings import Settings


def _evidence(**overrides):
    data = {"id": "news-1", "summary": "BTC ETF approved", "provenance": {"source": "wire"}}
    return Evidence.model_validate(data | overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"confidence": 1.7}, "less than or equal to 1"),
        ({"confidence": "sure"}, "confidence must be a number 0..1 or one of"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"summary": "   "}, "summary must not be empty"),
        ({"observed_at": "2024-05-03T14:05:00"}, "timezone"),
        (
            {"observed_at": "2024-05-03T14:05:00Z", "valid_until": "2024-05-03T14:00:00Z"},
            "valid_until must be later than observed_at",
        ),
        ({"tags": {"Bad Key": "x"}}, "tag key"),
        ({"id": "has space"}, "id"),
    ],
)
def test_invalid_objects_are_rejected_with_a_clear_message(overrides, message):
    with pytest.raises(ValidationError) as info:
        _evidence(**overrides)
    assert message in str(info.value)


def test_confidence_labels_and_utc_normalisation():
    item = _evidence(confidence="high", observed_at="2024-05-03T16:05:00+02:00")
    assert item.confidence == 0.8
    assert item.observed_at == datetime(2024, 5, 3, 14, 5, tzinfo=UTC)


def test_upsert_merge_keeps_created_at_and_bumps_updated_at():
    first = merge_upsert(
        None, _evidence(tags={"pair": "BTC/USDT"}), datetime(2024, 1, 1, tzinfo=UTC)
    )
    later = datetime(2024, 1, 2, tzinfo=UTC)
    second = merge_upsert(first, _evidence(summary="ETF delayed", tags={"src": "x"}), later)
    assert second.created_at == first.created_at
    assert second.updated_at == later
    assert second.summary == "ETF delayed"
    assert second.tags == {"pair": "BTC/USDT", "src": "x"}


def test_as_of_visibility_excludes_future_expired_and_undated():
    moment = datetime(2024, 5, 3, 14, 5, tzinfo=UTC)
    assert not _evidence().visible_at(moment)  # undated
    assert not _evidence(observed_at="2024-05-03T14:06:00Z").visible_at(moment)
    assert _evidence(observed_at="2024-05-03T14:05:00Z").visible_at(moment)
    expired = _evidence(observed_at="2024-05-01T00:00:00Z", valid_until="2024-05-03T14:05:00Z")
    assert not expired.visible_at(moment)


def test_parse_knowledge_dispatches_on_kind():
    goal = parse_knowledge(
        {"kind": "goal", "id": "g1", "summary": "s", "provenance": {"source": "o"}}
    )
    assert isinstance(goal, Goal)


def test_keys_carry_the_bot_hash_tag_and_refuse_bad_ids():
    keys = Keyspace().bot("bot-1")
    assert keys.audit == "ctx:{bot-1}:audit"
    for bad in ["", "Bot", "a}b", "a:b", "x" * 33, "-lead"]:
        with pytest.raises(InvalidBotId):
            Keyspace().bot(bad)


def test_settings_read_the_ctx_prefix(monkeypatch):
    monkeypatch.setenv("CTX_LLM_MODEL", "gpt-4.1-nano")
    monkeypatch.setenv("CTX_API_TOKEN", "s3cret")
    settings = Settings()
    assert settings.llm_model == "gpt-4.1-nano"
    assert "s3cret" not in repr(settings)
