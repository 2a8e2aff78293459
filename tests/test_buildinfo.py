"""Strategy version and config hash: what every verdict and trade record is traced to."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from context_service import buildinfo
from context_service.contract import VerdictRequest
from context_service.memory.models import TradeEvent

CONFIG = {
    "stake_amount": "unlimited",
    "max_open_trades": 2,
    "exchange": {"name": "kucoin", "key": "k-1", "secret": "s-1", "password": "p-1"},
    "api_server": {"username": "op", "password": "pw", "jwt_secret_key": "j"},
    "context": {"bot_id": "bot-1", "account": "sub1"},
}


@pytest.fixture(autouse=True)
def fresh_version():
    buildinfo.strategy_version.cache_clear()
    yield
    buildinfo.strategy_version.cache_clear()


def test_the_version_is_the_configured_commit_else_the_checkout(monkeypatch) -> None:
    monkeypatch.setenv("CTX_STRATEGY_VERSION", "3f2c1ab9d0e4")
    assert buildinfo.strategy_version() == "3f2c1ab9d0e4"
    buildinfo.strategy_version.cache_clear()
    for bad in ("", "bad value", "x\n", "a" * 100, "unknown"):
        monkeypatch.setenv("CTX_STRATEGY_VERSION", bad)
        buildinfo.strategy_version.cache_clear()
        found = buildinfo.strategy_version()
        assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", found), found  # this checkout's commit


def test_the_config_hash_ignores_secrets_order_and_runtime_keys() -> None:
    base = buildinfo.config_hash(CONFIG)
    assert re.fullmatch(r"[0-9a-f]{16}", base)
    rotated = {**CONFIG, "exchange": {**CONFIG["exchange"], "secret": "s-2", "key": "k-2"}}
    assert buildinfo.config_hash(rotated) == base
    reordered = dict(reversed(list(CONFIG.items())))
    assert buildinfo.config_hash(reordered | {"runmode": "dry_run"}) == base
    assert buildinfo.config_hash({**CONFIG, "max_open_trades": 3}) != base
    odd = {**CONFIG, "when": object(), "nan": float("nan"), "huge": "x" * 100_000}
    assert re.fullmatch(r"[0-9a-f]{16}", buildinfo.config_hash(odd))


@pytest.mark.parametrize("value", ["has space", "x\n", "", "a" * 65, "-leading"])
def test_bad_build_ids_are_refused_on_requests_and_events(value: str) -> None:
    with pytest.raises(ValidationError):
        TradeEvent(
            bot_id="bot-1",
            trade_id=1,
            order_id="o",
            event="entry_fill",
            pair="BTC/USDT",
            side="buy",
            time="2024-01-01T00:00:00Z",
            price=1,
            amount=1,
            strategy_version=value,
        )
    fields = VerdictRequest.model_fields
    assert fields["strategy_version"].metadata and fields["config_hash"].metadata
