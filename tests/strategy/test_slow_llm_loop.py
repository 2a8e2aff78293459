"""A slow LLM never blocks Freqtrade's bot loop, with the default settings.

The sidecar is the real app (uvicorn) on the real Redis, its LLM a loopback OpenAI-compatible
server that takes 3 s per answer, longer than the strategy's 2 s request timeout. Freqtrade's
own ``FreqtradeBot.process()`` runs the strategy loop after loop across the candidate candle's
close (exchange mocked as in test_live_loop.py). Nothing sets ``CTX_VERDICT_ASYNC``: asks are
asynchronous by default, so no entry is refused for a timeout, every loop returns at once, and
the entry is made on the first loop after the verdict arrived. With ``CTX_VERDICT_ASYNC=false``
the same bot waits on the LLM until its timeout and refuses the entry: the contrast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from deploy.live import serve
from freqtrade.persistence import Trade
from llm.chat_server import _ChatHandler, local_llm
from pydantic import SecretStr

from context_service.api.app import create_app
from context_service.client import factory
from context_service.keys import Keyspace
from context_service.llm.client import LLMClient
from context_service.service import ContextService
from context_service.settings import Settings
from strategy.test_live_loop import Market, make_bot
from strategy.test_live_loop import market as market  # the fixture: candles and exchange

__all__ = ["local_llm", "market"]

LLM_SECONDS = 3.0
LOOP_SECONDS = 0.5  # between loops (Freqtrade's internals.process_throttle_secs is 5 s)
TOKEN = "slow-llm-loop-token-0123456789"


@pytest.fixture
def slow_sidecar(
    monkeypatch, redis_url: str, keyspace: Keyspace, tmp_path: Path, local_llm: str
) -> Iterator[tuple[Any, ContextService]]:
    _ChatHandler.delay_s = LLM_SECONDS
    _ChatHandler.action = "buy"
    settings = Settings(
        _env_file=None,
        api_token=SecretStr(TOKEN),
        llm_enabled=True,
        llm_base_url=local_llm,
        llm_timeout_s=10.0,
        llm_max_retries=0,
        journal_dir=tmp_path,
    )
    service = ContextService(
        settings,
        redis.Redis.from_url(redis_url),
        keyspace,
        llm=LLMClient.from_settings(settings),
    )
    app = create_app(service=service)
    monkeypatch.delenv("CTX_VERDICT_ASYNC", raising=False)  # the default, whatever the shell
    with serve(app) as url:
        bot_settings = Settings(
            _env_file=None,
            api_token=SecretStr(TOKEN),
            sidecar_url=url,
            journal_dir=tmp_path / "bot-journal",
        )
        monkeypatch.setattr(factory, "get_settings", lambda: bot_settings)
        yield app, service
    service.close()


def _llm_calls() -> int:
    return len([c for c in _ChatHandler.seen if c["path"] == "/v1/chat/completions"])


def test_a_3_s_llm_is_waited_for_across_loops_and_the_entry_made_once_it_arrived(
    slow_sidecar, market: Market, keyspace: Keyspace, tmp_path: Path
) -> None:
    app, service = slow_sidecar
    candidate = len(market.candles) - 1
    bot = make_bot(tmp_path, keyspace)
    # (the sidecar had the verdict when the loop started, the loop entered, seconds it took)
    loops: list[tuple[bool, bool, float]] = []
    try:
        assert bot.strategy.ctx.gate.asynchronous  # default settings: nothing was set
        market.show(candidate - 1)  # the loop before the candidate candle closed
        bot.process()
        assert Trade.get_open_trades() == []

        market.show(candidate)  # it has closed: loop until the entry is made
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            table = getattr(app.state, "pending_verdicts", None)
            ready = table is not None and table.in_progress() == 0
            started = time.monotonic()
            bot.process()
            entered = bool(Trade.get_open_trades())
            loops.append((ready, entered, time.monotonic() - started))
            if entered:
                break
            time.sleep(LOOP_SECONDS)
        stats = bot.strategy.ctx.stats
    finally:
        bot.cleanup()

    assert loops[-1][1], loops  # the entry was made
    # Every refusal before it said "pending": none was a timeout or an unavailable engine.
    assert set(stats.refused) == {"verdict pending"}, stats.refused
    assert stats.unavailable == 0 and stats.entries_confirmed == 1
    # The first loop that started after the sidecar had the verdict made the entry.
    first_ready = next(i for i, (ready, _, _) in enumerate(loops) if ready)
    assert first_ready == len(loops) - 1, loops
    assert len(loops) >= 4  # the LLM really took several loops
    # No loop waited for the LLM: each one took a fraction of its 3 s.
    assert max(took for _, _, took in loops) < 1.5, loops
    assert _llm_calls() == 1  # asked every loop, answered once
    [verdict] = service.recent_verdicts("bot-1")
    assert verdict.source == "llm" and verdict.action == "buy"
    [trade] = Trade.get_trades_proxy()
    assert trade.get_custom_data("ctx_opening_verdict")["verdict_id"] == verdict.verdict_id


def test_with_asynchronous_asks_off_the_same_loop_waits_and_times_out(
    slow_sidecar, market: Market, keyspace: Keyspace, tmp_path: Path, monkeypatch
) -> None:
    sync = factory.get_settings().model_copy(update={"verdict_async": False})
    monkeypatch.setattr(factory, "get_settings", lambda: sync)
    candidate = len(market.candles) - 1
    bot = make_bot(tmp_path, keyspace)
    try:
        market.show(candidate - 1)
        bot.process()
        market.show(candidate)
        started = time.monotonic()
        bot.process()
        took = time.monotonic() - started
        stats = bot.strategy.ctx.stats
        assert Trade.get_open_trades() == []
    finally:
        bot.cleanup()
    # The loop sat out the strategy's request timeout (2 s) and refused the entry.
    assert took >= sync.sidecar_timeout_s, took
    assert stats.refused == {"engine unavailable": 1} and stats.unavailable == 1
