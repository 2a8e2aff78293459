"""The markets snapshot lets Freqtrade build its KuCoin exchange with no network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from freqtrade.enums import RunMode

from context_service.kucoin.markets import select_markets
from context_service.kucoin.snapshot import (
    SnapshotError,
    load_snapshot,
    offline_markets,
    resolve_markets_source,
    save_snapshot,
)

MARKET = {
    "id": "BTC-USDT",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "baseId": "BTC",
    "quoteId": "USDT",
    "type": "spot",
    "spot": True,
    "margin": False,
    "swap": False,
    "future": False,
    "option": False,
    "contract": False,
    "active": True,
    "taker": 0.001,
    "maker": 0.001,
    "precision": {"amount": 1e-08, "price": 0.1},
    "limits": {
        "amount": {"min": 1e-05, "max": 10000},
        "price": {"min": None, "max": None},
        "cost": {"min": 0.1, "max": None},
        "leverage": {"min": None, "max": None},
    },
    "info": {},
}


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "markets.json"
    path.write_text(json.dumps(data))
    return path


def test_round_trip_and_validation(tmp_path: Path) -> None:
    path = save_snapshot({"BTC/USDT": MARKET}, tmp_path / "sub" / "m.json")
    assert load_snapshot(path)["BTC/USDT"]["limits"]["cost"]["min"] == 0.1
    with pytest.raises(SnapshotError, match="does not exist"):
        load_snapshot(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(SnapshotError, match="not readable JSON"):
        load_snapshot(bad)
    with pytest.raises(SnapshotError, match="lacks precision"):
        load_snapshot(
            write(tmp_path, {"BTC/USDT": {k: v for k, v in MARKET.items() if k != "precision"}})
        )
    with pytest.raises(SnapshotError, match="non-empty"):
        load_snapshot(write(tmp_path, {}))


def test_freqtrade_exchange_starts_offline_from_the_snapshot(tmp_path: Path) -> None:
    from freqtrade.exchange import Kucoin

    config = {
        "runmode": RunMode.BACKTEST,
        "dry_run": True,
        "stake_currency": "USDT",
        "timeframe": "1h",
        "trading_mode": "spot",
        "margin_mode": "",
        "exchange": {"name": "kucoin", "key": "", "secret": "", "pair_whitelist": ["BTC/USDT"]},
        "candle_type_def": "spot",
        "entry_pricing": {"price_side": "same", "use_order_book": False},
        "exit_pricing": {"price_side": "same", "use_order_book": False},
    }
    with offline_markets(write(tmp_path, {"BTC/USDT": MARKET})):
        exchange = Kucoin(config, validate=True, load_leverage_tiers=False)
    try:
        assert list(exchange.markets) == ["BTC/USDT"]
        assert exchange.get_min_pair_stake_amount("BTC/USDT", 30_000.0, -0.08) > 0
        assert exchange.get_fee("BTC/USDT") == 0.001
    finally:
        exchange.close()
    # the patch is undone after the block
    from freqtrade.exchange.exchange import Exchange

    assert Exchange._load_async_markets.__name__ == "_load_async_markets"


def test_markets_source_decision(tmp_path: Path) -> None:
    snapshot = write(tmp_path, {"BTC/USDT": MARKET})
    assert resolve_markets_source("auto", snapshot, probe=lambda: False) is True
    assert resolve_markets_source("auto", snapshot, probe=lambda: True) is False
    assert resolve_markets_source("auto", None, probe=lambda: False) is False
    assert resolve_markets_source("snapshot", snapshot) is True
    assert resolve_markets_source("exchange", snapshot) is False
    with pytest.raises(SnapshotError):
        resolve_markets_source("snapshot", None)


def test_select_markets() -> None:
    markets = {
        "BTC/USDT": MARKET,
        "KCS/BTC": {**MARKET, "symbol": "KCS/BTC", "quote": "BTC"},
        "OLD/USDT": {**MARKET, "symbol": "OLD/USDT", "active": False},
    }
    assert list(select_markets(markets, None, "USDT")) == ["BTC/USDT"]
    assert list(select_markets(markets, ["KCS/BTC"], "USDT")) == ["KCS/BTC"]
    with pytest.raises(SnapshotError, match="ETH/USDT"):
        select_markets(markets, ["ETH/USDT"], "USDT")
