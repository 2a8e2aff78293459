"""``python -m context_service verdicts providers|export|import``.

``providers`` lists the registered verdict providers (name, what each needs, whether it spends
money). ``export``/``import`` move the replay cache between bots: export dry-run verdicts to a
JSONL file and import them into the bot a backtest runs as, so the backtest replays the
recorded verdicts (``providers=["replay", "rules"]``) without LLM calls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from context_service.keys import InvalidBotId, Keyspace, validate_bot_id
from context_service.settings import get_settings
from context_service.verdicts.replay import ReplayCache, ReplayImportError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m context_service verdicts",
        description="List the verdict providers; export or import a bot's replay cache (JSONL).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("providers", help="list the registered verdict providers")
    export = commands.add_parser("export", help="write a bot's cached verdicts to a file")
    export.add_argument("--bot", required=True, help="bot id")
    export.add_argument("--out", required=True, type=Path, help="JSONL file to write ('-': stdout)")
    imp = commands.add_parser("import", help="load cached verdicts into a bot")
    imp.add_argument("--bot", required=True, help="bot id")
    imp.add_argument("--in", dest="source", required=True, type=Path, help="JSONL file to read")
    for sub in (export, imp):
        sub.add_argument("--prefix", default="ctx", help="Redis key prefix (default ctx)")
    return parser


def list_providers() -> list[str]:
    """One line per registered provider: name, money, what it needs, what it does, fallback."""
    from context_service.verdicts.provider import registered_providers

    providers = list(registered_providers())
    width = max(len(p.name) for p in providers)
    lines = []
    for p in providers:
        money = "spends money" if p.spends_money else "free"
        then = f"; falls back to {p.fallback}" if p.fallback else ""
        lines.append(f"{p.name:<{width}}  {money:<12}  {p.summary} (needs {p.needs}{then})")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "providers":
        print("\n".join(list_providers()))
        return 0
    try:
        bot_id = validate_bot_id(args.bot)
        keyspace = Keyspace(prefix=args.prefix)
    except (InvalidBotId, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from context_service.memory import connect

    cache = ReplayCache(connect(get_settings()), keyspace)
    if args.command == "export":
        if str(args.out) == "-":
            count = cache.export(bot_id, sys.stdout)
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("w", encoding="utf-8") as out:
                count = cache.export(bot_id, out)
        print(f"exported {count} verdicts of {bot_id} to {args.out}", file=sys.stderr)
        return 0
    if not args.source.is_file():
        print(f"error: no such file {args.source}", file=sys.stderr)
        return 2
    try:
        with args.source.open(encoding="utf-8") as lines:
            count = cache.import_lines(bot_id, lines)
    except ReplayImportError as exc:
        print(f"error: {args.source}: {exc}; nothing was imported", file=sys.stderr)
        return 2
    print(f"imported {count} verdicts into {bot_id}", file=sys.stderr)
    return 0
