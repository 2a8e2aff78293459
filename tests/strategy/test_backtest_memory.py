"""Backtest memory starts empty (no future trades leak in) but keeps imported replay verdicts."""

from __future__ import annotations

import pytest

from context_service.client.backtest_engine import wipe_backtest_memory
from context_service.client.options import ConfigProblem


def test_wipe_clears_trades_and_audit_but_keeps_the_replay_cache(redis_client, keyspace) -> None:
    keys = keyspace.bot("backtest")
    redis_client.hset(keys.closed_trades, "1", "{}")
    redis_client.xadd(keys.audit, {"kind": "verdict"})
    redis_client.hset(keys.verdict_cache, "k", "{}")
    other = keyspace.bot("bot-1")
    redis_client.hset(other.closed_trades, "1", "{}")

    removed = wipe_backtest_memory(redis_client, keyspace, "backtest")

    assert removed == 2
    assert not redis_client.exists(keys.closed_trades, keys.audit)
    assert redis_client.hget(keys.verdict_cache, "k") == "{}"
    assert redis_client.hget(other.closed_trades, "1") == "{}"  # another bot is untouched


def test_a_live_bot_id_is_never_wiped(redis_client, keyspace) -> None:
    redis_client.hset(keyspace.bot("bot-1").closed_trades, "1", "{}")
    with pytest.raises(ConfigProblem, match="backtest"):
        wipe_backtest_memory(redis_client, keyspace, "bot-1")
    assert redis_client.hget(keyspace.bot("bot-1").closed_trades, "1") == "{}"
