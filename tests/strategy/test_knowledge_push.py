"""The bot's standing goals and constraints reach its context, over HTTP and in-process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
import respx

from context_service.client.factory import ConfigProblem, build_strategy_context
from context_service.client.inprocess import InProcessContextClient
from context_service.service import ContextService
from context_service.settings import Settings
from strategy.conftest import SIDECAR, load_strategy, strategy_config
from strategy.helpers import CANDLE

KNOWLEDGE = "knowledge/strategy.yaml"  # the shipped file, inside user_data


def test_knowledge_is_pushed_once_the_sidecar_answers(sidecar_settings, no_db) -> None:
    sidecar_up = False
    batches: list[dict] = []

    def evidence(request: httpx.Request) -> httpx.Response:
        if not sidecar_up:
            raise httpx.ConnectError("connection refused")
        batches.append(json.loads(request.content))
        return httpx.Response(200, json={"bot_id": "bot-1", "upserted": 7, "ids": []})

    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").respond(200, json={"held": True})
        router.post("/v1/evidence").mock(side_effect=evidence)
        strategy = load_strategy(strategy_config(knowledge_file=KNOWLEDGE))
        strategy.bot_start()  # sidecar still starting: the bot starts anyway
        assert strategy.ctx.knowledge_pending
        sidecar_up = True
        strategy.bot_loop_start(current_time=CANDLE + timedelta(hours=1))
        strategy.bot_loop_start(current_time=CANDLE + timedelta(hours=2))

    assert len(batches) == 1  # pushed once, not every loop
    (batch,) = batches
    assert batch["bot_id"] == "bot-1"
    kinds = {obj["id"]: obj["kind"] for obj in batch["objects"]}
    assert kinds["goal-preserve-capital"] == "goal" and kinds["risk-budget-cap"] == "constraint"
    assert not strategy.ctx.knowledge_pending


def test_a_bad_knowledge_file_stops_the_bot_with_the_reason(sidecar_settings, tmp_path) -> None:
    bad = tmp_path / "k.yaml"
    bad.write_text("objects: [{kind: goal, id: g, summary: ''}]")
    with pytest.raises(ConfigProblem, match=r"objects\[0\] \(id 'g'\): summary"):
        build_strategy_context(
            strategy_config(knowledge_file=str(bad)), in_process=False, settings=sidecar_settings
        )


def test_backtest_context_holds_the_goals_from_their_date_on(redis_url, keyspace, tmp_path):
    settings = Settings(_env_file=None, journal_dir=tmp_path)
    service = ContextService(
        settings, redis.Redis.from_url(redis_url), keyspace, evidence_store="memory"
    )
    config = strategy_config(knowledge_file=KNOWLEDGE, bot_id="backtest")
    ctx = build_strategy_context(
        config, in_process=True, settings=settings, client=InProcessContextClient(service)
    )
    ctx.push_knowledge()
    synthesis = service.synthesize("backtest", 1500, as_of=datetime(2022, 6, 1, tzinfo=UTC))
    assert "## strategy" in synthesis.text and "[goal-preserve-capital]" in synthesis.text
    assert "## risk-factors" in synthesis.text and "[risk-budget-cap]" in synthesis.text
    before = service.synthesize("backtest", 1500, as_of=datetime(2019, 12, 31, tzinfo=UTC))
    assert "[goal-preserve-capital]" not in before.text  # not adopted yet at that time
