"""One dry-run decision through every real part: Freqtrade loads the strategy, which talks over
HTTP to the real sidecar app (uvicorn) on the real Redis, gets a rules verdict made with its
knowledge file in context, enters, and its fills land in trade memory with that verdict."""

from __future__ import annotations

from datetime import timedelta

import redis
from deploy.live import serve
from pydantic import SecretStr

from context_service.api.app import create_app
from context_service.buildinfo import config_hash, strategy_version
from context_service.client import factory
from context_service.keys import Keyspace
from context_service.service import ContextService
from context_service.settings import Settings
from strategy.conftest import load_strategy, open_trade, strategy_config
from strategy.helpers import CANDLE, PAIR, ta_row
from strategy.test_trade_memory import exit_order

TOKEN = "dry-run-e2e-token-0123456789"
NOW = CANDLE + timedelta(hours=1, minutes=3)  # CANDLE is the last closed candle at NOW


def test_a_dry_run_decision_end_to_end(monkeypatch, redis_url, keyspace: Keyspace, tmp_path, no_db):
    sidecar_settings = Settings(
        _env_file=None, api_token=SecretStr(TOKEN), verdict_provider="rules", journal_dir=tmp_path
    )
    service = ContextService(
        sidecar_settings, redis.Redis.from_url(redis_url), keyspace, clock=lambda: NOW
    )
    with serve(create_app(service=service)) as url:
        bot_settings = Settings(
            _env_file=None,
            api_token=SecretStr(TOKEN),
            sidecar_url=url,
            journal_dir=tmp_path / "bot-journal",
        )
        monkeypatch.setattr(factory, "get_settings", lambda: bot_settings)
        strategy = load_strategy(
            strategy_config(knowledge_file="knowledge/strategy.yaml", key_prefix=keyspace.prefix)
        )
        strategy.bot_start()
        assert strategy.ctx.lease_held and not strategy.ctx.knowledge_pending

        strategy.state.set_candidates(PAIR, "entry", {int(CANDLE.timestamp()): ta_row()})
        strategy.bot_loop_start(current_time=NOW)
        assert strategy.confirm_trade_entry(
            PAIR, "limit", 0.0008, 40_000.0, "GTC", NOW, None, "long"
        )

        trade = open_trade(PAIR, 40_000.0, 0.0008, NOW, filled=0.0008)
        strategy.order_filled(PAIR, trade, trade.orders[0], NOW)
        strategy.order_filled(PAIR, trade, exit_order(trade, 42_000.0), NOW + timedelta(hours=5))

    (verdict,) = service.recent_verdicts("bot-1")
    assert verdict.source == "rules" and verdict.action == "buy"
    # the verdict's context held the standing goals and the pair's TA snapshot
    synthesis = service.synthesize("bot-1", as_of=verdict.candle_time + timedelta(hours=1))
    assert synthesis.manifest.manifest_id == verdict.manifest_id
    assert "[goal-preserve-capital]" in synthesis.text and "BTC/USDT 1h close" in synthesis.text
    # what was decided and why is in the audit trail; the trade is in memory with that verdict
    (audited,) = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    assert audited.payload["verdict"]["verdict_id"] == verdict.verdict_id
    stats = service.stats("bot-1")
    assert stats.trades == 1 and stats.wins == 1
    (closed,) = service.components.memory.bot("bot-1").closed_trades()
    assert closed.verdict_id == verdict.verdict_id
    # verdict and trade record name the build that made them: the commit and the config hash
    assert verdict.strategy_version == closed.strategy_version == strategy_version() != "unknown"
    assert verdict.config_hash == closed.config_hash == config_hash(strategy.config)
    events = service.components.memory.bot("bot-1").trades.events()
    assert {e.config_hash for e in events} == {verdict.config_hash}
