"""One evaluation from start to files: configure, run the variants, measure, certify, write."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from context_service.evaluate.cli import InputProblem, dump, resolve_config, write_atomically
from context_service.evaluate.runner import SharedBacktest, Variant, data_hash, run_all

Progress = Callable[[str], None]
BTC = "BTC/USDT"
RECURSIVE_DAYS = 120  # recursive-analysis wants a few thousand candles, all pairs listed
logger = logging.getLogger(__name__)
STRATEGY_FILE = Path(__file__).resolve().parents[2] / "user_data/strategies/context_gated.py"


def _markets(args: argparse.Namespace, datadir: Path) -> tuple[bool, Path | None]:
    from context_service.backtest.run import default_snapshot
    from context_service.kucoin.snapshot import exchange_reachable, resolve_markets_source
    from context_service.settings import get_settings

    snapshot = args.snapshot or get_settings().markets_snapshot or default_snapshot(datadir)
    reachable = functools.cache(exchange_reachable)
    return resolve_markets_source(args.markets, snapshot, probe=reachable), snapshot


def _check_pairs(pairs: list[str], snapshot: Path) -> None:
    from context_service.kucoin.snapshot import load_snapshot

    markets = load_snapshot(snapshot)
    unknown = [p for p in pairs if p not in markets]
    if unknown:
        raise InputProblem(
            f"unknown pair(s) {', '.join(unknown)}: not in the markets snapshot {snapshot}"
        )


def _btc_history(datadir: Path, timeframe: str) -> pd.DataFrame:
    """All of BTC's candles (regimes need the history before the period); empty if none."""
    from freqtrade.data.history import load_pair_history

    return load_pair_history(BTC, timeframe, datadir, data_format="json")


def _analysis_config(
    args: argparse.Namespace, config_path: Path, base: dict, datadir: Path, tf: str, tr: str, tmp
):
    """The config lookahead- and recursive-analysis run with (the backtest command's own)."""
    from context_service.backtest.run import _overlay
    from context_service.evaluate.setup import freqtrade_config

    ns = argparse.Namespace(
        no_gating=True, provider=None, no_memory=True, analysis="lookahead", pairs=args.pairs
    )
    folder = Path(tmp) / "analysis"
    folder.mkdir()
    return freqtrade_config(config_path, _overlay(ns, base), datadir, tf, tr, folder, False)


def run_evaluation(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from context_service.backtest.candles import exact_candles
    from context_service.backtest.cutoff import cutoff_warning
    from context_service.backtest.data import ensure_candles
    from context_service.evaluate import evaluation, report
    from context_service.evaluate.certificate import certify, code_version, config_hash
    from context_service.evaluate.setup import freqtrade_config
    from context_service.evaluate.spending import EvaluationSpend
    from context_service.ftconfig import ConfigFileError, read_config_file
    from context_service.kucoin.snapshot import offline_markets
    from context_service.settings import get_settings

    started = time.perf_counter()
    code = code_version(STRATEGY_FILE)  # the code this run starts with
    settings = get_settings()
    config_path = resolve_config(args.config)
    try:
        base = read_config_file(config_path)
    except ConfigFileError as exc:
        raise InputProblem(str(exc)) from None
    timeframe = args.timeframe or base.get("timeframe") or "1h"
    pairs = list(args.pairs or base.get("exchange", {}).get("pair_whitelist") or [])
    datadir = (args.datadir or settings.data_dir).resolve()
    use_snapshot, snapshot = _markets(args, datadir)
    if use_snapshot and snapshot is not None:
        _check_pairs(pairs, snapshot)
    ensure_candles(datadir, pairs, timeframe, args.timerange)
    overlay: dict[str, Any] = {"exchange": {"pair_whitelist": pairs}}
    if args.no_memory:
        overlay["context"] = {"record_memory": False}

    markets = offline_markets(snapshot) if use_snapshot else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="ctx-evaluate-") as tmp, markets, exact_candles():
        config = freqtrade_config(
            config_path, overlay, datadir, timeframe, args.timerange, Path(tmp)
        )
        _quiet()
        progress(f"loading candles and indicators for {', '.join(pairs)} ({timeframe}) ...")
        shared = SharedBacktest(config)
        shared.prepare()
        progress(
            f"period {shared.start:%Y-%m-%d %H:%M} -> {shared.end:%Y-%m-%d %H:%M}, wallet "
            f"{shared.wallet:g}, prepared in {shared.prepare_seconds:.1f} s"
        )
        spend = EvaluationSpend.prepare(args, settings, shared, progress)  # before any call
        paid = spend.capped() if spend else contextlib.nullcontext()
        first = [Variant("ungated", "ungated")] + [
            spend.variant(name) if spend else Variant(f"gated:{name}", "gated", name)
            for name in args.provider
        ]
        with paid:
            runs = run_all(shared, first, progress, args.workers)
            warnings = spend.check_masking(runs, progress) if spend else []
        randoms = []
        for run in runs[1:]:
            entry, exit_ = run.approval_rate("entry"), run.approval_rate("exit")
            progress(
                f"{run.variant.name} approved {_rate(entry)} of entries and {_rate(exit_)} of "
                "exits: the random gate uses the same rates"
            )
            randoms += [
                Variant(
                    f"random~{run.variant.provider}#{seed}",
                    "random",
                    "random",
                    seed=seed,
                    entry_rate=entry if entry is not None else 0.0,
                    exit_rate=exit_ if exit_ is not None else 0.0,
                )
                for seed in range(1, args.seeds + 1)
            ]
        runs += run_all(shared, randoms, progress, args.workers)
        variants_seconds = time.perf_counter() - started

        btc = _btc_history(datadir, timeframe)
        fee = float(shared.backtesting.fee)
        result, series = evaluation.build(shared, runs, btc, windows=args.windows, fee=fee)
        hashed_pairs = sorted(set(pairs) | ({BTC} if not btc.empty else set()))
        digest = data_hash(datadir, hashed_pairs, timeframe)

        certificate: dict[str, Any] | None = None
        if not args.no_certificate:
            timerange = args.timerange or (
                f"{shared.start:%Y%m%d}-{(shared.end + timedelta(days=1)):%Y%m%d}"
            )
            analysis = _analysis_config(args, config_path, base, datadir, timeframe, timerange, tmp)
            _quiet()  # Freqtrade's configuration set its log handlers up again
            end = timerange.split("-")[1]
            recent = shared.end - timedelta(days=RECURSIVE_DAYS)
            spans: dict[str, str | None] = {}
            for pair in shared.pairs:
                frame = shared.candles(pair)
                first = None if frame.empty else max(recent, frame["date"].iloc[0])
                spans[pair] = None if first is None else f"{first:%Y%m%d}-{end}"
            try:
                certificate = certify(
                    analysis,
                    data_sha256=digest,
                    strategy_file=STRATEGY_FILE,
                    cache_dir=args.out / "certificates",
                    max_signals=args.certificate_signals,
                    recursive_timeranges=spans,
                    progress=progress,
                    code=code,
                )
            except Exception as exc:  # the variants' figures stand; the report says it failed
                logger.exception("leakage certificate failed")
                certificate = {"error": f"{type(exc).__name__}: {exc}"[:500], "passed": False}

    if spend is not None:
        result["llm"] = spend.report(runs)
        cutoff, warning = cutoff_warning(
            settings.llm_model, shared.end.date(), settings.llm_capabilities
        )
        result["llm"]["training_cutoff"] = None if cutoff is None else cutoff.isoformat()
        result["llm_cutoffs"] = [
            {"provider": name, "model": settings.llm_model, "cutoff": str(cutoff)}
            for name in spend.spends
        ]
        if warning:
            warnings.insert(0, warning)
    result["warnings"] = warnings
    result["certificate"] = certificate
    result["run"] = {
        "config": str(config_path),
        "config_sha256": config_hash(config),
        "data_sha256": digest,
        "code": code,
        "providers": args.provider,
        "seeds": args.seeds,
        "windows": args.windows,
        "tuning": "nothing was tuned on this period: the gate's rules and thresholds are fixed in "
        "code and were not fitted to it, so every figure is out-of-sample for the gate",
        "variants_seconds": round(variants_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    result["verdicts"] = [evaluation.verdict_line(gate) for gate in result["gates"]]
    stem = f"evaluation-{shared.start:%Y%m%d}-{shared.end:%Y%m%d}-{'-'.join(args.provider)}"
    html_path, json_path = args.out / f"{stem}.html", args.out / f"{stem}.json"
    result["files"] = {"html": str(html_path), "json": str(json_path)}
    html = report.render(result, series)
    write_atomically(json_path, dump(result))
    write_atomically(html_path, html)
    progress(f"report: {html_path}")
    return result


def _quiet() -> None:
    """Freqtrade logs every step at INFO; the evaluation prints its own progress."""

    def drop_info(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith("freqtrade")

    for handler in logging.getLogger().handlers:
        handler.addFilter(drop_info)
    # Each look-ahead backtest raises the wallet to 1e9 on purpose: not worth a warning each.
    logging.getLogger("context_service.client.factory").setLevel(logging.ERROR)


def _rate(value: float | None) -> str:
    return "n/a (no verdicts)" if value is None else f"{100 * value:.1f} %"
