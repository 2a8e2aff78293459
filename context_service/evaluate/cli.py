"""``python -m context_service evaluate``: does the gate add value, after its cost?

Runs on the same data, wallet and slots: the strategy ungated, gated by each chosen provider,
a seeded random gate with the gated run's approval rates (N seeds), and buy-and-hold; then
shadow outcomes, walk-forward windows with bootstrap intervals, regimes and the leakage
certificate. Writes a self-contained HTML report and its JSON; prints a summary ending in a
one-line verdict (``--json``: the JSON on stdout instead).

Exit codes: 0 done, 2 bad input (one line says what), 1 Freqtrade failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from context_service.backtest.consent import add_spend_options, mask_sample_arg
from context_service.settings import REPO_ROOT, USER_DATA

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = USER_DATA / "config.backtest.json"
DEFAULT_OUT = USER_DATA / "evaluate"
MAX_SEEDS = 100
DEFAULT_MASK_SAMPLE = 30


class InputProblem(Exception):
    """Bad input; the message (one line) says what to fix."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit code 2
        print(f"evaluate: {message}", file=sys.stderr)
        raise SystemExit(2)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = _Parser(
        prog="python -m context_service evaluate",
        description="Gated vs ungated vs a random gate vs buy-and-hold, net of fees and LLM cost.",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="Freqtrade config")
    p.add_argument("--pairs", nargs="+", default=None, help="default: the config's whitelist")
    p.add_argument("--timerange", default=None, help="e.g. 20220101-20230101 (default: all)")
    p.add_argument("--timeframe", default=None, help="default: the config's")
    p.add_argument("--datadir", type=Path, default=None, help="candles (default CTX_DATA_DIR)")
    p.add_argument("--snapshot", type=Path, default=None, help="markets snapshot JSON")
    p.add_argument("--markets", choices=["auto", "snapshot", "exchange"], default="auto")
    p.add_argument(
        "--provider",
        action="append",
        default=None,
        help="verdict provider of the gated run; repeat for several (default: rules)",
    )
    p.add_argument("--seeds", type=int, default=5, help="random-gate seeds (default 5)")
    p.add_argument(
        "--windows", default="quarter", help="walk-forward windows: quarter, month or a count"
    )
    p.add_argument("--workers", type=int, default=1, help="variants in parallel processes")
    p.add_argument("--no-memory", action="store_true", help="gated run writes no trade memory")
    p.add_argument("--no-certificate", action="store_true", help="skip the leakage analyses")
    p.add_argument(
        "--certificate-signals",
        type=int,
        default=None,
        help="check only this many entry signals (default: all of the period)",
    )
    p.add_argument(
        "--mask-sample",
        type=mask_sample_arg,
        default=DEFAULT_MASK_SAMPLE,
        help="with a paid provider: candles asked masked and unmasked to measure agreement "
        f"(default {DEFAULT_MASK_SAMPLE}, 0: off)",
    )
    add_spend_options(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the summary")
    return p.parse_args(list(argv))


def validate(args: argparse.Namespace) -> None:
    """Everything that can be checked before any backtest runs."""
    from context_service.verdicts.provider import provider_class

    if not 1 <= args.seeds <= MAX_SEEDS:
        raise InputProblem(f"--seeds must be between 1 and {MAX_SEEDS}, got {args.seeds}")
    if not 1 <= args.workers <= 16:
        raise InputProblem(f"--workers must be between 1 and 16, got {args.workers}")
    if args.certificate_signals is not None and args.certificate_signals < 1:
        raise InputProblem("--certificate-signals must be at least 1")
    if args.windows not in ("quarter", "month") and not re.fullmatch(r"[1-9][0-9]?", args.windows):
        raise InputProblem(f"--windows must be quarter, month or 1-99, got {args.windows[:40]!r}")
    if args.timerange is not None and not re.fullmatch(r"\d{8}-(\d{8})?", args.timerange):
        raise InputProblem(
            f"--timerange must look like 20220101-20230101, got {args.timerange[:40]!r}"
        )
    providers = args.provider or ["rules"]
    if len(set(providers)) != len(providers):
        raise InputProblem("--provider names a provider twice")
    for name in providers:
        if name == "random":
            raise InputProblem("'random' is the control; name the provider to evaluate")
        try:
            cls = provider_class(name)
        except ValueError as exc:
            raise InputProblem(str(exc)) from None
        if getattr(cls, "spends_money", False) or _chain_spends(name):
            _check_llm_ready(name)
    args.provider = providers
    for pair in args.pairs or []:
        if not re.fullmatch(r"[A-Z0-9]{1,20}/[A-Z0-9]{1,20}", pair):
            raise InputProblem(f"--pairs: {pair[:40]!r} is not a spot pair like BTC/USDT")


def _chain_spends(name: str) -> bool:
    from context_service.backtest.llm_chain import chain_spend
    from context_service.settings import get_settings

    return chain_spend(name, get_settings()).spends


def _check_llm_ready(name: str) -> None:
    from context_service.settings import get_settings

    settings = get_settings()
    if not settings.llm_enabled or settings.llm_api_key is None:
        raise InputProblem(
            f"provider {name!r} calls an LLM: set CTX_LLM_ENABLED=true and CTX_LLM_API_KEY"
        )
    caps = (settings.cap_bot_daily_usd, settings.cap_global_daily_usd, settings.cap_monthly_usd)
    if any(cap <= 0 for cap in caps):
        raise InputProblem(
            f"provider {name!r} spends money: set positive CTX_CAP_BOT_DAILY_USD, "
            "CTX_CAP_GLOBAL_DAILY_USD and CTX_CAP_MONTHLY_USD"
        )


def progress(message: str) -> None:
    print(f"evaluate: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        validate(args)
        from context_service.evaluate.session import run_evaluation

        result = run_evaluation(args, progress)
    except InputProblem as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        problem = _input_problem(exc)
        if problem:
            print(f"evaluate: {problem}", file=sys.stderr)
            return 2
        if type(exc).__module__.startswith("freqtrade"):
            print(f"evaluate: freqtrade failed: {_one_line(str(exc))}", file=sys.stderr)
            return 1
        raise
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        from context_service.evaluate.summary import format_summary

        print(format_summary(result))
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _input_problem(exc: Exception) -> str | None:
    """The one-line message of failures that come from the user's input, else None."""
    from context_service.backtest.consent import SpendProblem
    from context_service.backtest.data import DataProblem
    from context_service.backtest.run import RunProblem
    from context_service.client.factory import ConfigProblem
    from context_service.kucoin.snapshot import SnapshotError

    if isinstance(exc, DataProblem | RunProblem | SnapshotError | ConfigProblem | SpendProblem):
        return _one_line(str(exc))
    text = str(exc)
    if "No data found" in text or "No data left" in text or "no candles left" in text:
        return "no candles in the timerange for these pairs: " + _one_line(text)
    if "is not available on" in text:  # Freqtrade's pair-list check against live markets
        return "unknown pair: " + _one_line(text)
    if "timerange" in text.lower() and type(exc).__module__.startswith("freqtrade"):
        return _one_line(text)
    return None


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text)
    Path(handle.name).replace(path)


def resolve_config(path: Path) -> Path:
    return path if path.is_absolute() else REPO_ROOT / path


def elapsed(since: float) -> str:
    return f"{time.perf_counter() - since:.1f} s"


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, default=str)
