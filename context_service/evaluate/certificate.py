"""The leakage certificate: Freqtrade's own look-ahead and recursive analyses, stamped.

* lookahead-analysis on every entry signal of the period that becomes a trade when slots and
  wallet do not limit entries (Freqtrade's definition; its default checks only 20), with
  gating off: the signals and indicators are the strategy's; verdicts are asked as of each
  candle's close by construction (docs/architecture.md).
* recursive-analysis on every pair: how far indicator values move with the startup period.

The certificate carries the data's hash, the config's hash, the code version and Freqtrade's
version; it is cached under ``user_data/evaluate/certificates/`` by those, so an unchanged
strategy on unchanged data is not re-analysed (the full look-ahead check takes minutes).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any

from context_service.backtest.candles import CANDLE_PARSING
from context_service.settings import REPO_ROOT

STRATEGY = "ContextGatedStrategy"
RECURSIVE_TOLERANCE = 0.001  # 0.1 % relative difference at the strategy's startup count


def code_version(strategy_file: Path) -> dict[str, str]:
    """The git commit (``-dirty`` with uncommitted changes) and the strategy file's hash."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown (not a git checkout)"
    digest = hashlib.sha256(strategy_file.read_bytes()).hexdigest()
    return {"git": commit, "strategy_sha256": digest}


def config_hash(config: dict[str, Any]) -> str:
    """Hash of the settings that shape trades (not paths, not run-time bookkeeping)."""
    keys = (
        "max_open_trades",
        "stake_amount",
        "available_capital",
        "dry_run_wallet",
        "timeframe",
        "fee",
        "context",
        "minimal_roi",
        "stoploss",
        "entry_pricing",
        "exit_pricing",
        "order_types",
        "unfilledtimeout",
    )
    picked = {k: config.get(k) for k in keys}
    picked["pairs"] = sorted(config.get("exchange", {}).get("pair_whitelist") or [])
    blob = json.dumps(picked, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _strategy_object(config: dict[str, Any]) -> dict[str, Any]:
    from freqtrade.resolvers import StrategyResolver

    for found in StrategyResolver.search_all_objects(config, enum_failed=False):
        if found["name"] == STRATEGY:
            return found
    raise ValueError(f"strategy {STRATEGY} not found in {config.get('strategy_path')}")


def lookahead(config: dict[str, Any], max_signals: int | None) -> dict[str, Any]:
    from freqtrade.optimize.analysis.lookahead_helpers import LookaheadAnalysisSubFunctions
    from freqtrade.util import get_progress_tracker

    config = copy.deepcopy(config)
    config["targeted_trade_amount"] = max_signals or 1_000_000
    config["minimum_trade_amount"] = 1
    config = LookaheadAnalysisSubFunctions.calculate_config_overrides(config)
    with get_progress_tracker() as progress:
        instance = LookaheadAnalysisSubFunctions.initialize_single_lookahead_analysis(
            config, _strategy_object(config), progress
        )
    analysis = instance.current_analysis
    found = int(instance.full_varHolder.result["results"].shape[0])
    return {
        "biased_entries": _flagged(instance, instance.entry_varHolders, "open_date"),
        "biased_exits": _flagged(instance, instance.exit_varHolders, "close_date"),
        "signals_in_period": found,
        "signals_checked": int(analysis.total_signals),
        "all_signals": max_signals is None,
        "biased_entry_signals": int(analysis.false_entry_signals),
        "biased_exit_signals": int(analysis.false_exit_signals),
        "biased_indicators": sorted(analysis.false_indicators),
        "has_bias": bool(analysis.has_bias),
    }


def _flagged(instance: Any, holders: list[Any], column: str) -> list[dict[str, str]]:
    """The trades Freqtrade counted as biased: the cut-data run has no trade at that time."""
    flagged = []
    for holder in holders:
        result = getattr(holder, "result", None)
        if result is None:  # a force-exit Freqtrade skipped
            continue
        if not instance.report_signal(result, column, holder.compared_dt):
            pair = next(iter(getattr(holder, "data", {}) or {}), "?")
            flagged.append({"pair": pair, column: holder.compared_dt.isoformat()})
    return flagged


def recursive(config: dict[str, Any], pair: str, timerange: str) -> dict[str, Any]:
    from freqtrade.optimize.analysis.recursive_helpers import RecursiveAnalysisSubFunctions
    from freqtrade.util import get_progress_tracker

    config = copy.deepcopy(config)
    config["timerange"] = timerange
    # recursive-analysis loads ``pairs`` and checks the first: both name only this pair
    config["exchange"]["pair_whitelist"] = [pair]
    config["pairs"] = [pair]
    config = RecursiveAnalysisSubFunctions.calculate_config_overrides(config)
    with get_progress_tracker() as progress:
        instance = RecursiveAnalysisSubFunctions.initialize_single_recursive_analysis(
            config, _strategy_object(config), progress
        )
    if instance.pair_to_used != pair:
        raise RuntimeError(f"recursive-analysis checked {instance.pair_to_used}, not {pair}")
    startup = int(instance._strat_scc or 0)
    worst: dict[str, float] = {}
    for indicator, by_startup in instance.dict_recursive.items():
        value = by_startup.get(startup)
        if value is not None and math.isfinite(value):
            worst[indicator] = abs(value)
    largest = max(worst.values(), default=0.0)
    return {
        "pair": pair,
        "startup_candles": startup,
        "max_relative_difference": largest,
        "indicators_over_tolerance": sorted(k for k, v in worst.items() if v > RECURSIVE_TOLERANCE),
        "passed": largest <= RECURSIVE_TOLERANCE,
    }


def certify(
    config: dict[str, Any],
    *,
    data_sha256: str,
    strategy_file: Path,
    cache_dir: Path,
    max_signals: int | None,
    recursive_timeranges: dict[str, str | None],
    progress,
    code: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run (or read from the cache) the certificate for ``config``'s period and pairs.

    ``recursive_timeranges`` (per pair) end where the period ends and start late enough that
    the pair has candles (pairs listed during the period); ``None``: no candles in the period."""
    import freqtrade

    stamp = {
        "data_sha256": data_sha256,
        "config_sha256": config_hash(config),
        "code": code or code_version(strategy_file),
        "freqtrade": freqtrade.__version__,
        "timerange": config.get("timerange"),
        "timeframe": config.get("timeframe"),
        "pairs": list(config["exchange"]["pair_whitelist"]),
        "max_signals": max_signals,
        "candle_parsing": CANDLE_PARSING,
    }
    # The signals come from the strategy file alone: its hash (not the commit) keys the cache;
    # the certificate keeps the commit it was produced at.
    keyed = {k: v for k, v in stamp.items() if k != "code"} | {
        "strategy_sha256": stamp["code"]["strategy_sha256"]
    }
    key = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:24]
    cached = cache_dir / f"{key}.json"
    if cached.is_file():
        progress(f"leakage certificate: cached ({cached})")
        return json.loads(cached.read_text(encoding="utf-8")) | {"cached": True}
    look_path = cache_dir / f"{key}.lookahead.json"
    if look_path.is_file():  # kept from a run whose recursive part failed
        look = json.loads(look_path.read_text(encoding="utf-8"))
    else:
        progress("leakage certificate: lookahead-analysis on every entry signal (takes long) ...")
        look = lookahead(config, max_signals)
        _write(look_path, look)
    checks = []
    for pair in stamp["pairs"]:
        timerange = recursive_timeranges.get(pair)
        if timerange is None:
            checks.append({"pair": pair, "passed": True, "max_relative_difference": 0.0,
                           "startup_candles": 0, "indicators_over_tolerance": [],
                           "note": "no candles in the period: nothing to check"})  # fmt: skip
            continue
        progress(f"leakage certificate: recursive-analysis {pair} ({timerange}) ...")
        checks.append(recursive(config, pair, timerange))
    passed = not look["has_bias"] and all(c["passed"] for c in checks)
    result = stamp | {"lookahead": look, "recursive": checks, "passed": passed, "key": key}
    _write(cached, result)
    return result | {"cached": False}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)
