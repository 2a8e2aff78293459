"""The same TA snapshot asked about again is not written again while the store holds it
unchanged: a write would move the bot's evidence version and void every synthesis of the bot."""

from __future__ import annotations

import pytest

from context_service import contexts
from verdicts.support import make_request


def _version(service, bot_id: str = "bot-1") -> int:
    raw = service.components.redis.get(service.components.keyspace.bot(bot_id).objects_version)
    return int(raw or 0)


@pytest.fixture
def no_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if every repeated question came after the memo's window."""
    monkeypatch.setattr(contexts, "SNAPSHOT_MEMO_S", 0.0)


def test_an_unchanged_snapshot_is_not_written_again(make_service, no_memo) -> None:
    service = make_service(llm=False, verdict_provider="rules")
    first = service.decide(make_request(0))
    written = _version(service)
    again = service.decide(make_request(0))
    assert _version(service) == written
    assert again.context_hash == first.context_hash


def test_a_changed_or_lost_snapshot_is_written(make_service, no_memo) -> None:
    service = make_service(llm=False, verdict_provider="rules")
    service.decide(make_request(0))
    written = _version(service)

    service.decide(make_request(0, rsi=31.0))  # same candle, other indicators
    assert _version(service) == written + 1
    stored = service.engine("bot-1").get("ta:BTC/USDT:1h")
    assert stored is not None and "RSI 31.0" in stored.summary

    service.engine("bot-1").delete("ta:BTC/USDT:1h")  # gone from the store
    after_delete = _version(service)
    service.decide(make_request(0, rsi=31.0))
    assert _version(service) > after_delete
    assert service.engine("bot-1").get("ta:BTC/USDT:1h") is not None
