"""The strategy inside Freqtrade's own bot loop, ``FreqtradeBot.process()``, in dry-run.

The exchange is mocked the way Freqtrade's own tests mock it (``tests/conftest.py``:
``patch_exchange`` / ``patch_freqtradebot``: no ccxt, static markets, a fixed fee, the whitelist
and RPC patched out), candles are served from memory, and the sidecar is the real app on the
real Redis. Freqtrade calls ``bot_loop_start`` *before* it analyses a new candle; the entry on a
candidate candle must still happen on the first loop after that candle closed. The verdict that
opened a trade is stored on the trade, so a bot restarted between entry and exit still records
the closed trade with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock, PropertyMock

import numpy as np
import pandas as pd
import pytest
import redis
from deploy.live import serve
from freqtrade.enums import CandleType, RunMode
from freqtrade.exchange import timeframe_to_prev_date
from freqtrade.freqtradebot import FreqtradeBot
from freqtrade.persistence import Trade
from pydantic import SecretStr

from context_service.api.app import create_app
from context_service.client import factory
from context_service.client.snapshot import ta_snapshot
from context_service.keys import Keyspace
from context_service.service import ContextService
from context_service.settings import Settings
from context_service.verdicts.models import VerdictRequest
from context_service.verdicts.rules import RulesPolicy
from strategy.conftest import load_strategy, strategy_config

EXMS = "freqtrade.exchange.exchange.Exchange"
PAIR = "BTC/USDT"
TF = "1h"
TOKEN = "live-loop-token-0123456789"
MARKET = {
    "id": "BTC-USDT",
    "symbol": PAIR,
    "base": "BTC",
    "quote": "USDT",
    "baseId": "BTC",
    "quoteId": "USDT",
    "active": True,
    "type": "spot",
    "spot": True,
    "margin": False,
    "swap": False,
    "future": False,
    "option": False,
    "contract": False,
    "linear": None,
    "inverse": None,
    "contractSize": None,
    "precision": {"amount": 8, "price": 2, "cost": 8},
    "limits": {
        "amount": {"min": 0.00001, "max": 10_000},
        "price": {"min": None, "max": None},
        "cost": {"min": 0.1, "max": None},
        "leverage": {"min": None, "max": None},
    },
    "info": {},
}


def synthetic_candles(n: int = 700, seed: int = 3) -> pd.DataFrame:
    """An uptrend with pullbacks (hourly, arbitrary dates; re-dated by the test)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0015, 0.012, n) + 0.004 * np.sin(np.arange(n) / 9)
    close = 100 * np.exp(np.cumsum(steps))
    opens = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 0.004, n)) * close
    return pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=n, freq="1h", tz="UTC"),
            "open": opens,
            "high": np.maximum(opens, close) + spread,
            "low": np.minimum(opens, close) - spread,
            "close": close,
            "volume": rng.uniform(50, 150, n),
        }
    )


def candidate_index(candles: pd.DataFrame) -> int:
    """The last candle that is an entry candidate the rules provider would buy, and whose
    previous candle is not a candidate (found with the strategy's own populate_*)."""
    config = strategy_config()
    config["runmode"] = RunMode.OTHER  # no sidecar: only the dataframe methods are used
    strategy = load_strategy(config)
    frame = strategy.populate_indicators(candles.copy(), {"pair": PAIR})
    frame = strategy.populate_entry_trend(frame, {"pair": PAIR})
    policy = RulesPolicy()
    for index in range(len(frame) - 1, 450, -1):
        row = frame.iloc[index]
        if row.get("enter_long") != 1 or frame.iloc[index - 1].get("enter_long") == 1:
            continue
        moment = row["date"].to_pydatetime()
        snapshot = ta_snapshot(PAIR, TF, moment, row.to_dict())
        request = VerdictRequest(bot_id="bot-1", pair=PAIR, candle_time=moment, snapshot=snapshot)
        decision = policy.decide(request)
        if decision.action == "buy" and decision.confidence >= 0.7:
            return index
    raise AssertionError("no buy candidate in the synthetic candles")


class Market:
    """What the mocked exchange serves: candles up to a point and a price."""

    def __init__(self, candles: pd.DataFrame) -> None:
        self.candles = candles
        self.upto = 0
        self.price = float(candles["close"].iloc[0])

    def show(self, upto: int, price: float | None = None) -> None:
        self.upto = upto
        self.price = float(self.candles["close"].iloc[upto]) if price is None else price

    def frame(self) -> pd.DataFrame:
        return self.candles.iloc[: self.upto + 1].reset_index(drop=True)

    def ticker(self, pair: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        p = self.price
        return {"symbol": pair, "bid": p, "ask": p, "last": p, "quoteVolume": 1e6}

    def order_book(self, pair: str, limit: int = 100) -> dict[str, Any]:
        return {"symbol": pair, "bids": [[self.price, 100.0]], "asks": [[self.price, 100.0]]}


def patch_exchange(monkeypatch: pytest.MonkeyPatch, market: Market) -> None:
    """Freqtrade's tests' ``patch_exchange`` + ``patch_freqtradebot``, for one spot market."""
    import freqtrade.exchange.exchange as exchange_module

    cls = exchange_module.Exchange
    for name in ("validate_config", "validate_timeframes", "_init_ccxt"):
        monkeypatch.setattr(cls, name, MagicMock())
    monkeypatch.setattr(cls, "id", PropertyMock(return_value="kucoin"))
    monkeypatch.setattr(cls, "name", PropertyMock(return_value="Kucoin"))
    monkeypatch.setattr(cls, "precisionMode", PropertyMock(return_value=2))
    monkeypatch.setattr(cls, "precision_mode_price", PropertyMock(return_value=2))
    monkeypatch.setattr(cls, "_load_async_markets", MagicMock(return_value={}))
    monkeypatch.setattr(cls, "markets", PropertyMock(return_value={PAIR: MARKET}))
    monkeypatch.setattr(cls, "timeframes", PropertyMock(return_value=[TF]))
    monkeypatch.setattr(cls, "get_fee", MagicMock(return_value=0.001))
    monkeypatch.setattr(cls, "fetch_ticker", lambda self, pair, *a, **k: market.ticker(pair))
    monkeypatch.setattr(
        cls, "fetch_l2_order_book", lambda self, pair, limit=100: market.order_book(pair)
    )

    def refresh(self, pair_list, *args, **kwargs):
        frame = market.frame()
        for pair, timeframe, candle_type in pair_list:
            self._klines[(pair, timeframe, candle_type)] = frame
        return {}

    monkeypatch.setattr(cls, "refresh_latest_ohlcv", refresh)
    monkeypatch.setattr("freqtrade.freqtradebot.RPCManager", MagicMock())
    monkeypatch.setattr(
        "freqtrade.freqtradebot.FreqtradeBot._refresh_active_whitelist",
        MagicMock(return_value=[PAIR]),
    )
    monkeypatch.setattr("freqtrade.freqtradebot.ExternalMessageConsumer", MagicMock())


def bot_config(db_url: str, keyspace: Keyspace) -> dict[str, Any]:
    config = strategy_config(key_prefix=keyspace.prefix)
    config.update(
        {
            "db_url": db_url,
            "bot_name": "live-loop",
            "initial_state": "running",
            "force_entry_enable": False,
            "cancel_open_orders_on_exit": False,
            "unfilledtimeout": {"entry": 10, "exit": 10},
            "entry_pricing": {
                "price_side": "same",
                "use_order_book": False,
                "price_last_balance": 0.0,
                "check_depth_of_market": {"enabled": False, "bids_to_ask_delta": 1},
            },
            "exit_pricing": {"price_side": "same", "use_order_book": False},
            "exchange": {
                "name": "kucoin",
                "key": "",
                "secret": "",
                "password": "",
                "enable_ws": False,
                "pair_whitelist": [PAIR],
                "pair_blacklist": [],
            },
            "pairlists": [{"method": "StaticPairList"}],
            "telegram": {"enabled": False, "token": "", "chat_id": ""},
            "internals": {},
            "candle_type_def": CandleType.SPOT,
            "disableparamexport": True,
            "export": "none",
        }
    )
    return config


@pytest.fixture
def sidecar(monkeypatch, redis_url: str, keyspace: Keyspace, tmp_path: Path) -> Iterator[Any]:
    settings = Settings(
        _env_file=None, api_token=SecretStr(TOKEN), verdict_provider="rules", journal_dir=tmp_path
    )
    service = ContextService(settings, redis.Redis.from_url(redis_url), keyspace)
    with serve(create_app(service=service)) as url:
        bot_settings = Settings(
            _env_file=None,
            api_token=SecretStr(TOKEN),
            sidecar_url=url,
            journal_dir=tmp_path / "bot-journal",
        )
        monkeypatch.setattr(factory, "get_settings", lambda: bot_settings)
        yield service
    service.close()


@pytest.fixture
def market(monkeypatch) -> Market:
    """Candles re-dated so the candidate candle is the one that closed last, by the real
    clock (FreqtradeBot.process() reads it)."""
    candles = synthetic_candles()
    index = candidate_index(candles)
    candles = candles.iloc[: index + 1].copy()
    now = datetime.now(UTC)
    last_closed = timeframe_to_prev_date(TF, now) - timedelta(hours=1)
    offset = pd.Timestamp(last_closed) - candles["date"].iloc[-1]
    candles["date"] = candles["date"] + offset
    market = Market(candles.reset_index(drop=True))
    patch_exchange(monkeypatch, market)
    return market


def make_bot(tmp_path: Path, keyspace: Keyspace) -> FreqtradeBot:
    return FreqtradeBot(bot_config(f"sqlite:///{tmp_path / 'trades.sqlite'}", keyspace))


def test_the_entry_on_a_candidate_candle_happens_on_the_first_loop(
    sidecar, market: Market, keyspace: Keyspace, tmp_path: Path
) -> None:
    candidate = len(market.candles) - 1
    bot = make_bot(tmp_path, keyspace)
    try:
        market.show(candidate - 1)  # the loop before the candidate candle closed
        bot.process()
        assert Trade.get_open_trades() == []

        market.show(candidate)  # the candidate candle has closed: the next loop
        bot.process()

        [trade] = Trade.get_open_trades()
        stats = bot.strategy.ctx.stats
        assert stats.refused.get("no verdict for this candle", 0) == 0, stats.refused
        assert stats.entries_confirmed == 1
        [verdict] = sidecar.recent_verdicts("bot-1")
        candle = market.candles["date"].iloc[candidate].to_pydatetime()
        assert verdict.candle_time == candle and verdict.action == "buy"
        # The verdict that opened the trade is on the trade, in Freqtrade's database.
        stored = trade.get_custom_data("ctx_opening_verdict")
        assert stored["verdict_id"] == verdict.verdict_id
    finally:
        bot.cleanup()


def test_attribution_survives_a_restart_between_entry_and_exit(
    sidecar, market: Market, keyspace: Keyspace, tmp_path: Path
) -> None:
    candidate = len(market.candles) - 1
    first = make_bot(tmp_path, keyspace)
    try:
        market.show(candidate - 1)
        first.process()
        market.show(candidate)
        first.process()
        [trade] = Trade.get_open_trades()
        trade_id = trade.id
        [verdict] = sidecar.recent_verdicts("bot-1")
    finally:
        first.cleanup()

    second = make_bot(tmp_path, keyspace)  # a new process: nothing in memory but the database
    try:
        [reloaded] = Trade.get_open_trades()
        assert reloaded.id == trade_id
        market.show(candidate, price=market.price * 1.25)  # ROI: 15 % at once
        second.process()
        assert Trade.get_open_trades() == []
        assert second.strategy.ctx.stats.entries_confirmed == 0  # it only exited
    finally:
        second.cleanup()

    memory = sidecar.components.memory.bot("bot-1")
    # What the restarted bot itself reported: its exit fill and closed trade name the verdict.
    exits = [e for e in memory.trades.events() if e.event in ("exit_fill", "trade_closed")]
    assert [e.event for e in exits] == ["exit_fill", "trade_closed"]
    assert all(e.verdict_id == verdict.verdict_id for e in exits)
    assert all(e.manifest_id == verdict.manifest_id for e in exits)
    [closed] = memory.closed_trades()
    assert closed.verdict_id == verdict.verdict_id
