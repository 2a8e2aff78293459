"""Fake bots on loopback and a fleet file pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from loopback import free_port

from dashboard.fakebot import FakeBot, open_trade


@pytest.fixture
def fake_bots() -> Iterator[dict[str, FakeBot]]:
    """'alpha' runs with an open trade; 'beta' runs too; 'gamma' is down (nothing listening)."""
    alpha = FakeBot("alpha", profit_closed=3.25, winrate=0.6, max_drawdown_abs=1.1, closed_trades=5)
    alpha.trades = [open_trade("BTC/USDT", 0.42, 1.68)]
    beta = FakeBot("beta", profit_closed=-0.8, winrate=0.25, max_drawdown_abs=2.0, closed_trades=4)
    beta.log_rows = [
        ["2026-11-21 05:10:00", 1_795_583_400_000.0, "freqtrade.exchange", "ERROR",
         "Could not fetch ticker for SOL/USDT: RequestTimeout"],
    ]  # fmt: skip
    bots = {"alpha": alpha.start(), "beta": beta.start()}
    yield bots
    for bot in bots.values():
        bot.stop()


def fleet_yaml(ports: dict[str, int]) -> dict:
    accounts = {"alpha": "subalpha", "beta": "subbeta", "gamma": "subgamma"}
    pairs = {"alpha": ["BTC/USDT"], "beta": ["SOL/USDT", "XRP/USDT"], "gamma": ["DOGE/USDT"]}
    return {
        "version": 1,
        "bots": [
            {
                "id": bot_id,
                "account": accounts[bot_id],
                "env_file": f"docker/env/{bot_id}.env",
                "budget_usdt": 50,
                "pairs": pairs[bot_id],
                "api_port": port,
            }
            for bot_id, port in ports.items()
        ],
    }


@pytest.fixture
def fleet_file(tmp_path: Path, fake_bots: dict[str, FakeBot]) -> Path:
    ports = {name: bot.port for name, bot in fake_bots.items()}
    ports["gamma"] = free_port()
    path = tmp_path / "bots.yaml"
    path.write_text(yaml.safe_dump(fleet_yaml(ports), sort_keys=False), encoding="utf-8")
    return path


TOKEN = "dashboard-test-token"


def _verdict(bot_id: str, pair: str, action: str, source: str, minutes: int, **extra) -> str:
    from datetime import UTC, datetime, timedelta

    from context_service.verdicts.models import Verdict

    at = datetime(2026, 11, 21, 5, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    return Verdict(
        verdict_id=f"v-{bot_id}-{minutes}", bot_id=bot_id, pair=pair, candle_time=at,
        action=action, confidence=0.72, rationale="test", source=source, created_at=at, **extra,
    ).model_dump_json()  # fmt: skip


@pytest.fixture
def seeded_service(redis_client, keyspace, tmp_path: Path, fleet_file: Path):
    """A real ContextService on the test keyspace with verdicts, LLM spend and one closed trade."""
    from datetime import UTC, datetime

    from pydantic import SecretStr

    from context_service.memory.models import TradeEvent
    from context_service.service import ContextService
    from context_service.settings import Settings
    from dashboard.fakebot import PASSWORD, USERNAME

    settings = Settings(
        api_token=SecretStr(TOKEN),
        journal_dir=tmp_path / "journal",
        fleet_file=fleet_file,
        bot_api_url_template="http://127.0.0.1:{port}",
        bot_api_username=USERNAME,
        bot_api_password=SecretStr(PASSWORD),
        monitor_interval_s=60,
    )
    service = ContextService(settings, redis_client, keyspace)
    now = service.clock()
    alpha = keyspace.bot("alpha").last_verdicts
    redis_client.lpush(alpha, _verdict("alpha", "BTC/USDT", "hold", "rules", 0))
    redis_client.lpush(
        alpha,
        _verdict("alpha", "BTC/USDT", "buy", "llm", 60, model="gpt-4.1-mini", cost_usd=0.0004),
    )
    redis_client.lpush(
        keyspace.bot("beta").last_verdicts,
        _verdict("beta", "SOL/USDT", "hold", "rules", 30, fallback_reason="llm:cap"),
    )
    reservation = service.components.ledger.reserve("alpha", 420_000, now)
    service.components.ledger.settle(
        reservation, 420_000
    )  # 0.42 of the 0.50 USD daily cap: 80 % alert
    service.components.usage.record_call(
        "alpha", now, ok=True, prompt_tokens=900, completion_tokens=60,
        cost_micros=420_000, latency_ms=800.0,
    )  # fmt: skip
    service.components.memory.bot("alpha").record_llm_cost(now, 0.42, "v-alpha-60")
    closed = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    service.record_trade_event(
        TradeEvent(
            bot_id="gamma", trade_id=7, order_id="close", event="trade_closed",
            pair="DOGE/USDT", side="sell", time=closed, price=0.1, amount=100,
            stake=10, fee_quote=0.02, realized_profit=1.5, open_time=closed,
            close_time=closed,
        )
    )  # fmt: skip
    return service
