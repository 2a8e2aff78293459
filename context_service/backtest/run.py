"""``python -m context_service backtest``: a real Freqtrade backtest of ContextGatedStrategy.

Freqtrade runs in this process (its own ``backtesting`` / ``lookahead-analysis`` /
``recursive-analysis`` commands, called through its argument parser) so that:

* the markets snapshot can replace Freqtrade's network market load (offline, delisted pairs),
* candle prices are read exactly as the files hold them (backtest/candles.py),
* the strategy calls the context engine in-process, and this command can print what the
  gating did (verdicts by source, refusals, tokens, cost) after Freqtrade's own report.

Exit codes: 0 ok, 2 configuration/data problem (message says what to do), 1 Freqtrade failed.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from context_service.backtest.analysis import analysis_overrides
from context_service.backtest.candles import exact_candles
from context_service.backtest.consent import SpendProblem, add_spend_options
from context_service.backtest.data import DataProblem, ensure_candles
from context_service.backtest.paid_run import PaidRun, paid_run, spending_start
from context_service.client.factory import ConfigProblem, configured_budget
from context_service.evidence.backtest import EvidenceProblem
from context_service.ftconfig import ConfigFileError, read_config_file
from context_service.keys import DEFAULT_PREFIX
from context_service.kucoin.snapshot import (
    SnapshotError,
    exchange_reachable,
    offline_markets,
    resolve_markets_source,
)
from context_service.settings import REPO_ROOT, USER_DATA, get_settings

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = USER_DATA / "config.backtest.json"
STRATEGY = "ContextGatedStrategy"


class RunProblem(Exception):
    """Something the user must fix; the message says what."""


def default_snapshot(datadir: Path) -> Path | None:
    """A snapshot kept beside the data: ``<datadir>/../kucoin-markets.json``, if present."""
    candidate = datadir.parent / "kucoin-markets.json"
    return candidate if candidate.is_file() else None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m context_service backtest",
        description="Real Freqtrade backtest of ContextGatedStrategy, offline-capable.",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="Freqtrade config")
    p.add_argument("--timerange", default=None, help="e.g. 20220101-20220401")
    p.add_argument("--pairs", nargs="+", default=None, help="override the pair whitelist")
    p.add_argument("--timeframe", default=None, help="override the config's timeframe")
    p.add_argument("--datadir", type=Path, default=None, help="candles (default CTX_DATA_DIR)")
    p.add_argument("--snapshot", type=Path, default=None, help="markets snapshot JSON")
    p.add_argument(
        "--markets",
        choices=["auto", "snapshot", "exchange"],
        default="auto",
        help="auto: the snapshot when the exchange is unreachable (default)",
    )
    p.add_argument("--no-gating", action="store_true", help="plain TA run, no verdicts")
    p.add_argument(
        "--provider",
        type=_provider_name,
        default=None,
        help="first verdict provider: any registered name (see 'verdicts providers')",
    )
    p.add_argument("--no-memory", action="store_true", help="do not write trade memory")
    p.add_argument(
        "--evidence",
        type=_archives,
        default=None,
        help="evidence in context, point in time: news, sentiment or news,sentiment "
        "(docs/feeds.md)",
    )
    p.add_argument(
        "--no-regime-responses",
        action="store_true",
        help="ignore the knowledge file's regime responses (stake scale, pause, stop)",
    )
    p.add_argument("--no-protections", action="store_true", help="disable protections")
    p.add_argument(
        "--analysis",
        choices=["lookahead", "recursive"],
        default=None,
        help="run Freqtrade's lookahead-analysis or recursive-analysis instead",
    )
    p.add_argument("--summary-json", type=Path, default=None, help="also write our summary here")
    add_spend_options(p)
    p.add_argument(
        "freqtrade_args",
        nargs=argparse.REMAINDER,
        help="after '--': more arguments for the freqtrade command",
    )
    return p.parse_args(list(argv))


def _provider_name(name: str) -> str:
    """A registered verdict provider's name (argparse names the choices otherwise)."""
    from context_service.verdicts.provider import provider_class

    try:
        return provider_class(name).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _archives(text: str) -> list[str]:
    names = text.split(",")
    if not set(names) <= {"news", "sentiment"}:
        raise argparse.ArgumentTypeError(f"use news, sentiment or news,sentiment; got {text!r}")
    return list(dict.fromkeys(names))


def _load_config(path: Path) -> dict[str, Any]:
    try:
        return read_config_file(path)
    except ConfigFileError as exc:
        raise RunProblem(str(exc)) from exc


def _overlay(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    """Config overrides, written to a second --config file (Freqtrade merges them in order)."""
    context: dict[str, Any] = {}
    overlay: dict[str, Any] = {}
    if args.no_gating:
        context["gating"] = False
    if args.provider:
        context["provider"] = args.provider
    if args.no_memory:
        context["record_memory"] = False
    if getattr(args, "evidence", None):  # evaluate builds its own namespace
        context["evidence"] = args.evidence
    if getattr(args, "no_regime_responses", False):  # callers building their own Namespace
        context["regime_responses"] = False
    if args.analysis:
        analysis = analysis_overrides(config)
        context.update(analysis.pop("context"))
        overlay.update(analysis)
    if context:
        overlay["context"] = context
    if args.pairs:
        overlay["exchange"] = {"pair_whitelist": args.pairs}
    return overlay


def freqtrade_argv(
    args: argparse.Namespace, config_files: list[Path], datadir: Path, timeframe: str
) -> list[str]:
    command = {
        None: "backtesting",
        "lookahead": "lookahead-analysis",
        "recursive": "recursive-analysis",
    }[args.analysis]
    argv = [command]
    for path in config_files:
        argv += ["--config", str(path)]
    argv += [
        "--strategy",
        STRATEGY,
        "--userdir",
        str(USER_DATA),
        "--datadir",
        str(datadir),
        "--data-format-ohlcv",
        "json",
        "--timeframe",
        timeframe,
    ]
    if args.timerange:
        argv += ["--timerange", args.timerange]
    if command == "backtesting":
        argv += ["--cache", "none", "--export", "trades"]
    if command == "backtesting" and not args.no_protections:
        argv.append("--enable-protections")
    extra = [a for a in (args.freqtrade_args or []) if a != "--"]
    return argv + extra


def _run_freqtrade(
    argv: list[str], use_snapshot: bool, snapshot: Path | None, args: Any = None
) -> tuple[Any, PaidRun]:
    """Run one Freqtrade command in-process; returns the Backtesting object for backtests and
    what the run's LLM spend was (a chain that spends money: estimate and consent first)."""
    from freqtrade.commands import Arguments
    from freqtrade.enums import RunMode
    from freqtrade.loggers import setup_logging_pre

    setup_logging_pre()
    parsed = Arguments(argv).get_parsed_arg()

    def execute() -> tuple[Any, PaidRun]:
        if argv[0] != "backtesting":
            return parsed["func"](parsed), PaidRun()
        from freqtrade.commands.optimize_commands import setup_optimize_configuration
        from freqtrade.optimize.backtesting import Backtesting

        config = setup_optimize_configuration(parsed, RunMode.BACKTEST)
        with paid_run(config, args, get_settings()) as paid:
            backtesting = Backtesting(config)
            backtesting.start()
        return backtesting, paid

    with exact_candles():
        if use_snapshot:
            assert snapshot is not None
            with offline_markets(snapshot):
                return execute()
        return execute()


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    config_path = args.config if args.config.is_absolute() else REPO_ROOT / args.config
    config = _load_config(config_path)
    timeframe = args.timeframe or config.get("timeframe") or "1h"
    pairs = args.pairs or config.get("exchange", {}).get("pair_whitelist") or []
    datadir = (args.datadir or settings.data_dir).resolve()
    snapshot = args.snapshot or settings.markets_snapshot or default_snapshot(datadir)
    # One probe per run: offline, each look at KuCoin costs its connect timeout.
    reachable = functools.cache(exchange_reachable)
    use_snapshot = resolve_markets_source(args.markets, snapshot, probe=reachable)
    if not use_snapshot and args.markets == "auto" and not (snapshot and snapshot.is_file()):
        logger.info("no markets snapshot configured: Freqtrade will load markets from KuCoin")

    if args.analysis and not args.no_gating and spending_start(args.provider, config, settings):
        raise RunProblem(
            "--analysis re-runs the backtest many times: not with a verdict chain that spends "
            "money; use --provider rules (the analyses check the strategy's signals)"
        )
    ensure_candles(datadir, pairs, timeframe, args.timerange, reachable=reachable)
    if args.evidence:
        from context_service.evidence.backtest import prepare_evidence

        prefix = (config.get("context") or {}).get("key_prefix") or DEFAULT_PREFIX
        prepare_evidence(prefix, args.evidence)

    with tempfile.TemporaryDirectory(prefix="ctx-backtest-") as tmp:
        config_files = [config_path]
        overlay = _overlay(args, config)
        if overlay:
            overlay_path = Path(tmp) / "overlay.json"
            overlay_path.write_text(json.dumps(overlay), encoding="utf-8")
            config_files.append(overlay_path)
        argv = freqtrade_argv(args, config_files, datadir, timeframe)
        print("freqtrade " + " ".join(argv), flush=True)
        started = time.perf_counter()
        try:
            result, paid = _run_freqtrade(argv, use_snapshot, snapshot, args)
        except Exception as exc:
            if type(exc).__module__.startswith("freqtrade"):
                print(f"freqtrade failed: {exc}", file=sys.stderr)
                return 1
            raise
        runtime = time.perf_counter() - started

    if args.analysis:
        print(f"\n{argv[0]} finished in {runtime:.1f} s")
        return 0
    return _report(result, config, runtime, args.summary_json, paid)


def _report(
    backtesting: Any,
    config: dict[str, Any],
    runtime: float,
    out: Path | None,
    paid: PaidRun | None = None,
) -> int:
    from context_service.backtest.summary import build_summary, format_summary
    from context_service.client.stats import last_registered

    results = backtesting.results["strategy"]
    strategy_result = results.get(STRATEGY)
    if strategy_result is None and len(results) == 1:
        # a subclass of the strategy given after '--' with --strategy (probes, experiments)
        (strategy_result,) = results.values()
    if strategy_result is None:
        print("freqtrade produced no result for the strategy", file=sys.stderr)
        return 1
    stats = last_registered()
    # The budget the strategy's guard enforced (the merged config Freqtrade ran with).
    budget = stats.budget if stats and stats.budget else float(configured_budget(config) or 0)
    summary = build_summary(
        strategy_result, stats.as_dict() if stats else None, budget, runtime_s=runtime
    )
    end_ms = strategy_result.get("backtest_end_ts")
    window_end = datetime.fromtimestamp(end_ms / 1000, UTC).date() if end_ms else None
    summary["llm"] = (paid or PaidRun()).report(get_settings(), window_end)
    print(format_summary(summary))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        trades_path = out.with_suffix(".trades.json")
        trades_path.write_text(json.dumps(strategy_result["trades"], default=str), encoding="utf-8")
    return 0 if summary["budget_held"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except (
        RunProblem,
        DataProblem,
        SnapshotError,
        ConfigProblem,
        EvidenceProblem,
        SpendProblem,
    ) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
