"""The shipped configs are valid Freqtrade configs and the KuCoin one is safe by default."""

from __future__ import annotations

import json
import re

import pytest
from freqtrade.configuration.config_validation import validate_config_schema
from freqtrade.enums import RunMode

from context_service.client.factory import budget_limits, read_options
from context_service.settings import USER_DATA

CONFIGS = ["config.backtest.json", "config.kucoin.example.json"]


def load(name: str) -> dict:
    return json.loads((USER_DATA / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_config_passes_freqtrade_schema_and_our_options(name: str) -> None:
    config = load(name)
    validate_config_schema(
        {**config, "runmode": RunMode.DRY_RUN, "stoploss": -0.08, "minimal_roi": {"0": 0.1}}
    )
    options = read_options(config)
    limits = budget_limits(config, options)
    assert limits.budget == config["available_capital"] == config["dry_run_wallet"]
    assert limits.stake_per_trade * config["max_open_trades"] < limits.budget


def test_kucoin_example_is_spot_dry_run_with_secrets_only_from_env() -> None:
    config = load("config.kucoin.example.json")
    assert config["dry_run"] is True
    assert config["trading_mode"] == "spot"
    exchange = config["exchange"]
    assert exchange["name"] == "kucoin"
    assert all(exchange[f] == "" for f in ("key", "secret", "password"))
    assert all(p.endswith("/USDT") for p in exchange["pair_whitelist"])
    assert any(re.fullmatch(rule, "KCS/USDT") for rule in exchange["pair_blacklist"])
    assert config["order_types"]["stoploss_on_exchange"] is True
