"""Per-bot state is bounded: distinct bot ids do not grow the process without limit."""

from __future__ import annotations

from context_service.contexts import SynthesisMemo
from context_service.lru import LRU
from verdicts.support import make_request


def test_engines_and_memories_are_bounded_and_rebuilt_when_needed(make_service) -> None:
    service = make_service(llm=False, verdict_provider="rules", max_cached_bots=3)
    for i in range(10):
        assert service.decide(make_request(bot_id=f"bot-{i}")).source == "rules"
    memory = service.components.memory
    assert len(service.contexts) == 3 and len(memory._bots) == 3
    assert len(service.contexts._pushed) <= 3 * 16
    # An evicted bot is rebuilt from Redis: its evidence and audit are all still there.
    again = service.decide(make_request(1, bot_id="bot-0"))
    assert again.source == "rules"
    assert len(memory.bot("bot-0").audit.query(kind="verdict")) == 2
    assert memory.bot("bot-0").evidence.get("ta:BTC/USDT:1h") is not None


def test_the_lru_map_drops_the_least_recently_used() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "b" is now the least recently used
    lru.put("c", 3)
    assert "b" not in lru and lru.get("a") == 1 and lru.get_or_create("d", lambda: 4) == 4
    assert len(lru) == 2


def test_the_memo_drops_a_bots_older_versions_and_stays_bounded() -> None:
    memo = SynthesisMemo(capacity=3)
    memo.put("a", ("1", "0"), (500, None, None), "a-v1")  # type: ignore[arg-type]
    memo.put("a", ("1", "0"), (500, "t1", None), "a-v1-t1")  # type: ignore[arg-type]
    assert memo.get("a", ("1", "0"), (500, "t1", None), None) == "a-v1-t1"
    assert len(memo) == 2

    memo.put("a", ("2", "0"), (500, "t2", None), "a-v2")  # type: ignore[arg-type]
    assert len(memo) == 1  # version 1 can never be fresh again
    assert memo.get("a", ("1", "0"), (500, "t1", None), None) is None
    assert memo.get("a", ("2", "0"), (500, "t1", None), None) is None  # never stored at v2

    for bot in ("b", "c", "d"):
        memo.put(bot, ("1", "0"), (500, None, None), bot)  # type: ignore[arg-type]
    assert len(memo) == 3
    assert memo.get("a", ("2", "0"), (500, "t2", None), None) is None  # least recent, dropped
    assert memo.get("d", ("1", "0"), (500, None, None), None) == "d"
    # A live synthesis is reused only while it is young.
    assert memo.get("d", ("1", "0"), (500, None, None), 0.0) is None
