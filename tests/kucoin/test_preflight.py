"""Live trading needs dry_run false AND the explicit opt-in AND a safe key; else it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from context_service.kucoin import keycheck, preflight
from context_service.kucoin.keycheck import KeyCheckError, KeyReport
from context_service.kucoin.preflight import LIVE_OPT_IN, live_problem
from context_service.settings import USER_DATA, Settings
from kucoin.test_keycheck import ENV, KuCoinTransport, record


def live_config(**overrides) -> dict:
    config = json.loads((USER_DATA / "config.kucoin.example.json").read_text())
    config["dry_run"] = False
    config.update(overrides)
    return config


def settings(opt_in: str | None = LIVE_OPT_IN) -> Settings:
    return Settings(live_trading=opt_in, _env_file=None)


def safe_key(env=None) -> KeyReport:
    return keycheck.evaluate_key(record())


def test_dry_run_needs_no_live_checks() -> None:
    def never(env=None):
        raise AssertionError("the key is not checked in dry-run")

    assert live_problem({"dry_run": True}, settings(None), key_check=never) is None


def test_live_without_opt_in_is_refused_with_what_to_do() -> None:
    problem = live_problem(live_config(), settings(None), env=ENV, key_check=safe_key)
    assert problem is not None
    assert f"CTX_LIVE_TRADING={LIVE_OPT_IN}" in problem
    assert live_problem(live_config(), settings("yes"), env=ENV, key_check=safe_key)


def test_live_with_opt_in_and_safe_key_may_start() -> None:
    assert live_problem(live_config(), settings(), env=ENV, key_check=safe_key) is None


def test_live_with_unsafe_or_uncheckable_key_is_refused() -> None:
    def withdraw_key(env=None) -> KeyReport:
        return keycheck.evaluate_key(record(permission="General,Spot,Withdrawal"))

    def unreachable(env=None) -> KeyReport:
        raise KeyCheckError("KuCoin is unreachable")

    assert "Withdrawal" in live_problem(live_config(), settings(), env=ENV, key_check=withdraw_key)
    assert "unreachable" in live_problem(live_config(), settings(), env=ENV, key_check=unreachable)


def test_live_on_futures_or_without_budget_is_refused() -> None:
    futures = live_problem(
        live_config(trading_mode="futures"), settings(), env=ENV, key_check=safe_key
    )
    assert "spot" in futures
    no_budget = live_problem(
        live_config(available_capital=None), settings(), env=ENV, key_check=safe_key
    )
    assert "available_capital" in no_budget


def test_full_path_through_ccxt_reads_credentials_from_runtime_config(monkeypatch) -> None:
    """Freqtrade merges FREQTRADE__EXCHANGE__* into the runtime config; the check uses them."""
    real_make = keycheck.make_exchange
    seen = {}

    def make(key, secret, password, **kwargs):
        seen["key"] = key
        exchange = real_make(key, secret, password, **kwargs)
        exchange.session.mount(
            "https://", KuCoinTransport(200, {"code": "200000", "data": record(isMaster=True)})
        )
        return exchange

    monkeypatch.setattr(keycheck, "make_exchange", make)
    config = live_config()
    config["exchange"].update(key="K1", secret="S1", password="P1")
    problem = live_problem(config, settings(), env={})
    assert seen["key"] == "K1"
    assert problem is not None and "MASTER" in problem


def test_cli_refuses_secrets_in_the_config_file(tmp_path: Path, capsys) -> None:
    config = live_config()
    config["exchange"]["secret"] = "do-not-commit"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert preflight.main(["--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "FREQTRADE__EXCHANGE__SECRET" in err and "do-not-commit" not in err


def test_cli_allows_dry_run_and_refuses_live_without_opt_in(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight, "get_settings", lambda: settings(None))
    dry = tmp_path / "dry.json"
    dry.write_text((USER_DATA / "config.kucoin.example.json").read_text())
    assert preflight.main(["--config", str(dry)]) == 0
    live = tmp_path / "live.json"
    live.write_text(json.dumps(live_config()))
    assert preflight.main(["--config", str(live)]) == 1
    assert "CTX_LIVE_TRADING" in capsys.readouterr().err


def test_strategy_refuses_to_start_live_without_opt_in(monkeypatch) -> None:
    """bot_start in live mode runs the preflight and raises, so Freqtrade does not start."""
    from freqtrade.enums import RunMode
    from freqtrade.exceptions import OperationalException
    from strategy.conftest import load_strategy, strategy_config

    from context_service.client import factory

    monkeypatch.setattr(factory, "get_settings", lambda: settings(None))
    monkeypatch.setattr(preflight, "get_settings", lambda: settings(None))
    config = strategy_config() | {"runmode": RunMode.LIVE, "dry_run": False}
    strategy = load_strategy(config)
    with pytest.raises(OperationalException, match="CTX_LIVE_TRADING"):
        strategy.bot_start()
    assert strategy.ctx.blocked_reason  # and entries stay refused should it be swallowed


def test_cli_reads_configs_the_way_freqtrade_does(tmp_path: Path, capsys, monkeypatch) -> None:
    # Freqtrade accepts comments and trailing commas; so must we, or a runnable bot is refused.
    monkeypatch.setattr(preflight, "get_settings", lambda: settings(None))
    text = (USER_DATA / "config.kucoin.example.json").read_text()
    commented = tmp_path / "commented.json"
    commented.write_text(
        "// the trader's notes\n" + text.replace('"dry_run": true,', '"dry_run": true, /* safe */')
    )
    assert preflight.main(["--config", str(commented)]) == 0
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    assert preflight.main(["--config", str(broken)]) == 1
    assert "broken.json" in capsys.readouterr().err
