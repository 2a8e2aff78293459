"""``python -m context_service preflight``: refuse live trading unless it is explicitly safe.

Live trading needs all of:

* ``dry_run: false`` in the Freqtrade config *and* ``CTX_LIVE_TRADING=I_UNDERSTAND`` in the
  environment (two deliberate steps, so a config edit alone never risks money);
* exchange ``kucoin``, ``trading_mode`` spot, a budget (``available_capital``);
* no API secrets in the config file (only ``FREQTRADE__EXCHANGE__*`` environment variables);
* a key that passes :mod:`context_service.kucoin.keycheck` (sub-account, General + Spot only).

The strategy runs the same checks (:func:`live_problem`) in ``bot_start`` when Freqtrade starts
in live mode, and refuses to start when one fails. Exit codes: 0 ok, 1 refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from context_service.ftconfig import ConfigFileError, read_config_file
from context_service.kucoin.keycheck import (
    ENV_KEY,
    ENV_PASSWORD,
    ENV_SECRET,
    KeyCheckError,
    KeyReport,
    check_key,
    format_report,
)
from context_service.settings import Settings, get_settings

LIVE_OPT_IN = "I_UNDERSTAND"
SECRET_FIELDS = ("key", "secret", "password", "uid")


def config_problems(config: Mapping[str, Any], *, from_file: bool) -> list[str]:
    """Static checks of a Freqtrade config meant for live trading."""
    problems: list[str] = []
    exchange = config.get("exchange") or {}
    if str(exchange.get("name", "")).lower() != "kucoin":
        problems.append(f"exchange must be kucoin, not {exchange.get('name')!r}")
    if config.get("trading_mode", "spot") != "spot":
        problems.append("trading_mode must be spot (no margin or futures)")
    if not config.get("available_capital"):
        problems.append("set available_capital to the sub-account's budget (e.g. 100)")
    if from_file:
        leaked = [f for f in SECRET_FIELDS if str(exchange.get(f) or "").strip()]
        if leaked:
            problems.append(
                f"the config file holds exchange {', '.join(leaked)}: remove them and set "
                f"{ENV_KEY} / {ENV_SECRET} / {ENV_PASSWORD} in the environment instead"
            )
    return problems


def live_problem(
    config: Mapping[str, Any],
    settings: Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
    key_check: Callable[..., KeyReport] = check_key,
) -> str | None:
    """None when live trading may start, else a message that says what to do.

    ``config`` is Freqtrade's runtime config (secrets already merged from the environment).
    """
    settings = settings or get_settings()
    env = os.environ if env is None else env
    if config.get("dry_run", True):
        return None  # dry-run places no real orders
    if settings.live_trading != LIVE_OPT_IN:
        return (
            "live trading refused: the config has dry_run false, but live trading also needs "
            f"the explicit opt-in CTX_LIVE_TRADING={LIVE_OPT_IN} in the environment. "
            "Keep dry_run true until the bot has run well in dry-run."
        )
    problems = config_problems(config, from_file=False)
    if problems:
        return "live trading refused: " + "; ".join(problems)
    exchange = config.get("exchange") or {}
    merged = dict(env)
    for name, field_name in ((ENV_KEY, "key"), (ENV_SECRET, "secret"), (ENV_PASSWORD, "password")):
        if not merged.get(name) and exchange.get(field_name):
            merged[name] = str(exchange[field_name])
    try:
        report = key_check(env=merged)
    except KeyCheckError as exc:
        return f"live trading refused: the API key could not be checked: {exc}"
    if not report.ok:
        return "live trading refused: unsafe API key: " + "; ".join(report.problems)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m context_service preflight",
        description="Refuse live trading unless the config, the opt-in and the key are safe.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the bot's Freqtrade config")
    args = parser.parse_args(list(argv or []))
    try:
        config = read_config_file(args.config)
    except ConfigFileError as exc:
        print(f"preflight: cannot read {args.config}: {exc}", file=sys.stderr)
        return 1
    file_problems = config_problems(config, from_file=True)
    if file_problems:
        for problem in file_problems:
            print(f"preflight: REFUSED: {problem}", file=sys.stderr)
        return 1
    if config.get("dry_run", True):
        print("preflight: dry_run is true: the bot may start (no real orders are placed)")
        return 0
    problem = live_problem(config, key_check=_printing_key_check)
    if problem:
        print(f"preflight: {problem}", file=sys.stderr)
        return 1
    print("preflight: OK: live trading may start on this sub-account")
    return 0


def _printing_key_check(env: Mapping[str, str] | None = None) -> KeyReport:
    report = check_key(env=env)
    print(format_report(report))
    return report
