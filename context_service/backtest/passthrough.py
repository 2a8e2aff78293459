"""``python -m context_service freqtrade SUBCOMMAND [args]``: Freqtrade itself, offline-capable.

Any Freqtrade subcommand and its arguments run unchanged through Freqtrade's own entry point
(``freqtrade.main.main``), with three additions, each printed before the run:

* the markets snapshot replaces Freqtrade's market load when the exchange is unreachable (or
  always with ``--markets snapshot``), so backtesting, hyperopt, the bias checks and plotting
  work offline and for delisted pairs;
* defaults this repository needs where the command takes them and none was given: the candles
  in ``CTX_DATA_DIR`` and ``user_data/config.backtest.json`` when there is no ``config.json``;
* for ``lookahead-analysis`` / ``recursive-analysis``, the overrides of
  :mod:`context_service.backtest.analysis` as one more ``--config``.

A command that runs the strategy's entries (backtesting and the bias checks) with a verdict
chain that spends money is refused before Freqtrade starts: the passthrough cannot estimate
and cap the spend; ``python -m context_service backtest --provider llm`` does (hyperopt
replaces a paid provider by the rules itself).

Our own options come before the subcommand: ``--markets auto|snapshot|exchange`` and
``--snapshot PATH``. The exit code is Freqtrade's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from context_service.backtest.analysis import ANALYSIS_COMMANDS, analysis_overrides
from context_service.backtest.candles import exact_candles
from context_service.ftconfig import ConfigFileError, read_config_file
from context_service.kucoin.snapshot import (
    SnapshotError,
    offline_markets,
    resolve_markets_source,
)
from context_service.settings import USER_DATA, get_settings

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = USER_DATA / "config.backtest.json"
# Subcommands that ask verdicts on entries (hyperopt swaps a paid provider for the rules itself).
VERDICT_COMMANDS = frozenset({"backtesting", *ANALYSIS_COMMANDS})
USAGE = "python -m context_service freqtrade [--markets M] [--snapshot PATH] SUBCOMMAND [args]"


def parse_own_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options (before the subcommand) and Freqtrade's argv (from the subcommand on)."""
    parser = argparse.ArgumentParser(
        prog="python -m context_service freqtrade",
        usage=USAGE,
        description="Run any Freqtrade subcommand with the markets snapshot when offline. "
        "Everything from the subcommand on goes to Freqtrade ('freqtrade SUBCOMMAND --help').",
    )
    parser.add_argument(
        "--markets",
        choices=["auto", "snapshot", "exchange"],
        default="auto",
        help="auto: the snapshot when the exchange is unreachable (default)",
    )
    parser.add_argument("--snapshot", type=Path, default=None, help="markets snapshot JSON")
    parser.add_argument("freqtrade_argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv))
    rest = list(args.freqtrade_argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return args, rest


class Unparsed(Exception):
    """Freqtrade's parser stopped: ``code`` 0 after --help/--version, else a usage error."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def parsed_freqtrade_args(argv: list[str]) -> dict[str, Any]:
    """Freqtrade's own parse of ``argv``, without the defaults it injects afterwards."""
    from freqtrade.commands import Arguments

    arguments = Arguments(argv)
    arguments._build_subcommands()
    try:
        return vars(arguments.parser.parse_args(argv))
    except SystemExit as exc:  # argparse has printed the help or the error
        raise Unparsed(exc.code if isinstance(exc.code, int) else 2) from None


def with_defaults(argv: list[str], parsed: dict[str, Any], data_dir: Path) -> list[str]:
    """Add the repository's defaults for options the subcommand takes and the user left out."""
    from freqtrade.commands.arguments import NO_CONF_ALLOWED
    from freqtrade.constants import DEFAULT_CONFIG as FREQTRADE_CONFIG

    extra: list[str] = []
    command = parsed.get("command")
    userdir = Path(parsed.get("user_data_dir") or "user_data")
    has_default_config = (userdir / FREQTRADE_CONFIG).is_file() or Path(FREQTRADE_CONFIG).is_file()
    if (
        "config" in parsed
        and not parsed["config"]
        and command not in NO_CONF_ALLOWED
        and not has_default_config
    ):
        extra += ["--config", str(DEFAULT_CONFIG)]
    if "user_data_dir" in parsed and not parsed["user_data_dir"]:
        extra += ["--userdir", str(USER_DATA)]
    if "datadir" in parsed and not parsed["datadir"] and data_dir.is_dir():
        extra += ["--datadir", str(data_dir)]
    return argv + extra


def config_files(argv: list[str], parsed: dict[str, Any]) -> list[Path]:
    named = parsed.get("config") or []
    if not named and "--config" in argv:  # added by with_defaults
        named = [argv[argv.index("--config") + 1]]
    return [Path(p) if Path(p).is_absolute() else Path.cwd() / p for p in named if p != "-"]


def merged_config(paths: list[Path]) -> dict[str, Any]:
    """The user's configs merged the way Freqtrade does (later files win, dicts merge)."""
    from freqtrade.misc import deep_merge_dicts

    config: dict[str, Any] = {}
    for path in paths:
        config = deep_merge_dicts(read_config_file(path), config)
    return config


def run(own: argparse.Namespace, argv: list[str]) -> int:
    from freqtrade.main import main as freqtrade_main

    settings = get_settings()
    try:
        parsed = parsed_freqtrade_args(argv)
    except Unparsed as stop:
        return stop.code  # Freqtrade's main would exit 0 even after a usage error
    use_snapshot = False
    with tempfile.TemporaryDirectory(prefix="ctx-freqtrade-") as tmp:
        if parsed.get("command"):
            argv = with_defaults(argv, parsed, settings.data_dir)
            if parsed["command"] in VERDICT_COMMANDS:
                problem = paid_chain_problem(merged_config(config_files(argv, parsed)), settings)
                if problem:
                    print(f"freqtrade: {problem}", file=sys.stderr)
                    return 2
            if parsed["command"] in ANALYSIS_COMMANDS:
                overlay = Path(tmp) / "analysis-overrides.json"
                config = merged_config(config_files(argv, parsed))
                overlay.write_text(json.dumps(analysis_overrides(config)), encoding="utf-8")
                argv += ["--config", str(overlay)]
            snapshot = own.snapshot or settings.markets_snapshot
            use_snapshot = resolve_markets_source(own.markets, snapshot)
            if use_snapshot:
                print(f"markets: snapshot {snapshot} (exchange not used)", flush=True)
            print("freqtrade " + " ".join(argv), flush=True)
        try:
            with exact_candles():  # see backtest/candles.py: one-ulp reads fake look-ahead
                if use_snapshot:
                    with offline_markets(snapshot):
                        freqtrade_main(argv)
                else:
                    freqtrade_main(argv)
        except SystemExit as exc:  # freqtrade.main always ends with sys.exit(code)
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def paid_chain_problem(config: dict[str, Any], settings: Any) -> str | None:
    """Why the run must not start: its verdict chain would spend money unestimated."""
    from context_service.backtest.llm_chain import chain_spend

    context = config.get("context") if isinstance(config.get("context"), dict) else {}
    start = context.get("provider") or settings.verdict_provider
    try:
        spend = chain_spend(str(start), settings)
    except ValueError as exc:
        return f"context.provider: {exc}"
    if not spend.spends:
        return None
    return (
        f"the verdict chain {' -> '.join(spend.chain)} spends money ({', '.join(spend.spenders)})"
        " and this passthrough cannot estimate or cap it: run `python -m context_service "
        "backtest --provider llm` (estimate, consent, --max-usd), set context.provider to "
        "rules, or turn the LLM off (CTX_LLM_ENABLED=false; replay then falls back to the rules)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    own, rest = parse_own_args(sys.argv[1:] if argv is None else argv)
    if not rest:
        print(f"usage: {USAGE}\n(a Freqtrade subcommand is required)", file=sys.stderr)
        return 2
    try:
        return run(own, rest)
    except (SnapshotError, ConfigFileError) as exc:
        print(f"freqtrade: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
