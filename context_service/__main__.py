"""Command line: ``python -m context_service COMMAND [options]``.

Each command lives in its own module with a ``main(argv) -> int`` function and its own
``--help``; modules are imported only when their command runs, so ``--help`` stays fast and the
sidecar never imports Freqtrade.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("context_service.api.serve", "run the sidecar HTTP service (uvicorn)"),
    "memory": ("context_service.memory.cli", "inspect a bot's memory: stats, insights"),
    "verdicts": ("context_service.verdicts.cli", "export / import the verdict replay cache"),
    "check-key": ("context_service.kucoin.keycheck", "verify a KuCoin key is trade-only"),
    "preflight": ("context_service.kucoin.preflight", "refuse live trading unless safe"),
    "markets": ("context_service.kucoin.markets", "save or inspect a markets snapshot"),
    "backtest": ("context_service.backtest.run", "real Freqtrade backtest, offline-capable"),
    "evaluate": ("context_service.evaluate.cli", "gated vs ungated vs random gate vs buy-and-hold"),
    "freqtrade": (
        "context_service.backtest.passthrough",
        "any freqtrade subcommand, with the markets snapshot when offline",
    ),
    "fleet": ("context_service.fleet.cli", "render and check the multi-bot compose file"),
    "feeds": ("context_service.evidence.cli", "evidence feeds: status, sources, archive import"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: python -m context_service COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines.append("\nRun 'python -m context_service COMMAND --help' for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
