"""A real ContextGatedStrategy, loaded by Freqtrade's resolver, for dry-run callback tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import CustomDataWrapper, LocalTrade
from freqtrade.persistence.usedb_context import disable_database_use, enable_database_use
from freqtrade.resolvers import StrategyResolver

from context_service.client import factory
from context_service.settings import USER_DATA, Settings
from strategy.helpers import make_order

SIDECAR = "http://sidecar.test"
# What the strategy asks over HTTP by default (CTX_VERDICT_ASYNC=true; the sync route is
# /v1/verdicts, tested in test_fail_closed.py).
ASK = "/v1/verdicts/ask"


def strategy_config(**context: Any) -> dict[str, Any]:
    return {
        "strategy": "ContextGatedStrategy",
        "strategy_path": str(USER_DATA / "strategies"),
        "user_data_dir": USER_DATA,
        "runmode": RunMode.DRY_RUN,
        "dry_run": True,
        "max_open_trades": 3,
        "stake_currency": "USDT",
        "stake_amount": "unlimited",
        "available_capital": 100,
        "dry_run_wallet": 100,
        "timeframe": "1h",
        "trading_mode": "spot",
        "margin_mode": "",
        "exchange": {"name": "kucoin", "pair_whitelist": ["BTC/USDT", "SOL/USDT"]},
        "entry_pricing": {"price_side": "same"},
        "exit_pricing": {"price_side": "same"},
        "context": {"bot_id": "bot-1", "min_confidence": 0.6, **context},
    }


@pytest.fixture
def no_db() -> Iterator[None]:
    disable_database_use("1h")
    LocalTrade.reset_trades()
    CustomDataWrapper.reset_custom_data()
    yield
    LocalTrade.reset_trades()
    CustomDataWrapper.reset_custom_data()
    enable_database_use()


@pytest.fixture
def sidecar_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Settings:
    settings = Settings(
        sidecar_url=SIDECAR,
        sidecar_timeout_s=0.5,
        api_token="t0ken",
        journal_dir=tmp_path / "journal",
        _env_file=None,
    )
    monkeypatch.setattr(factory, "get_settings", lambda: settings)
    return settings


def load_strategy(config: dict[str, Any]):
    return StrategyResolver.load_strategy(config)


def open_trade(pair: str, price: float, amount: float, when: datetime, filled: float) -> LocalTrade:
    """An open backtest trade with one entry order, ``filled`` of ``amount`` executed."""
    trade = LocalTrade(
        id=len(LocalTrade.bt_trades_open) + 1,
        pair=pair,
        stake_currency="USDT",
        base_currency=pair.split("/")[0],
        open_rate=price,
        open_date=when,
        stake_amount=price * amount,
        amount=filled,
        amount_requested=amount,
        fee_open=0.001,
        fee_close=0.001,
        is_open=True,
        exchange="kucoin",
        orders=[],
    )
    order = make_order(
        pair=pair,
        side="buy",
        amount=amount,
        filled=filled,
        price=price,
        when=when,
        order_id=f"o{trade.id}",
        trade_id=trade.id,
    )
    trade.orders.append(order)
    LocalTrade.add_bt_trade(trade)
    return trade
