"""``python -m context_service feeds ...``: evidence feeds from the command line.

Examples::

    python -m context_service feeds status            # each source: last success, error, lag
    python -m context_service feeds sources           # registered sources and what they need
    python -m context_service feeds import --source news --file ../shared/data/news/cryptonews.csv
    python -m context_service feeds import --source sentiment \\
        --file ../shared/data/sentiment/fear_and_greed.csv --lag-minutes 60
    python -m context_service feeds import --source news --file x.csv --dry-run   # check only

Exit codes: 0 ok, 2 bad input (message says what), 1 the store could not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import redis

from context_service.evidence.archives import ARCHIVES, ArchiveError
from context_service.evidence.config import get_feed_settings
from context_service.evidence.report import feeds_report, format_report
from context_service.evidence.scoring import RulesFileError
from context_service.keys import DEFAULT_PREFIX, Keyspace
from context_service.memory.market import MarketEvidenceError


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m context_service feeds", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="each source's last success, last error, items, lag")
    status.add_argument("--json", action="store_true")
    status.add_argument("--key-prefix", default=DEFAULT_PREFIX, help="Redis key prefix (ctx)")
    sources = sub.add_parser("sources", help="registered sources, enabled or not, and needs")
    sources.add_argument("--json", action="store_true")
    imp = sub.add_parser("import", help="load a historical archive into the market store")
    imp.add_argument("--source", required=True, choices=ARCHIVES, help="archive format")
    imp.add_argument("--file", required=True, type=Path)
    imp.add_argument(
        "--lag-minutes",
        type=float,
        default=None,
        help="availability lag after each item's stated time (default: news 720, sentiment 60)",
    )
    imp.add_argument("--dry-run", action="store_true", help="read and check, store nothing")
    imp.add_argument("--key-prefix", default=DEFAULT_PREFIX, help="Redis key prefix (ctx)")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(list(argv))


def _status(args: argparse.Namespace) -> int:
    from context_service.evidence.status import RedisStatusStore
    from context_service.keys import Keyspace
    from context_service.memory.connection import connect
    from context_service.settings import get_settings

    store = RedisStatusStore(connect(get_settings()), Keyspace(args.key_prefix).feeds_status)
    report = feeds_report(store, get_feed_settings())
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _sources(args: argparse.Namespace) -> int:
    from context_service.evidence.status import MemoryStatusStore

    registered = feeds_report(MemoryStatusStore(), get_feed_settings())["registered"]
    if args.json:
        print(json.dumps(registered, indent=2))
        return 0
    for row in registered:
        state = "on" if row["enabled"] else ("needs key" if row["waiting_for_key"] else "off")
        print(f"{row['name']:<14} {state:<10} {row['summary']}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from context_service.engine.store import InMemoryStore
    from context_service.evidence.components import FeedComponents
    from context_service.evidence.importer import import_archive

    if args.lag_minutes is not None and not 0 <= args.lag_minutes <= 60 * 24 * 30:
        raise ValueError("--lag-minutes must be 0 .. 43200 (30 days)")
    lag = None if args.lag_minutes is None else timedelta(minutes=args.lag_minutes)
    components = FeedComponents(get_feed_settings())
    sink = InMemoryStore() if args.dry_run else market_sink(args.key_prefix)
    report = import_archive(
        args.source, args.file, sink, components, lag=lag, show_progress=not args.quiet
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    verb = "checked (dry run, nothing stored)" if args.dry_run else "imported"
    print(
        f"{args.source}: {report.rows} rows {verb}: {report.items} items, {report.stored} "
        f"stored, {report.duplicates} near-duplicates dropped, "
        f"{sum(report.skipped.values())} rows skipped, in {report.seconds:.1f} s "
        f"({report.rate:,.0f} rows/s)"
    )
    for reason, count in report.skipped.most_common():
        print(f"  skipped {count}: {reason}")
    print(
        f"  published {report.first_published} .. {report.last_published}; visible "
        f"{report.lag_minutes:g} min after their stated time"
    )
    return 0


def market_sink(key_prefix: str = DEFAULT_PREFIX):
    """The market-wide evidence store of this deployment (``CTX_REDIS_URL``, else the embedded
    Redis), the one every bot's synthesis reads."""
    from context_service.memory import Memory, connect
    from context_service.settings import get_settings

    settings = get_settings()
    return Memory(connect(settings), Keyspace(prefix=key_prefix), settings).market


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = {"status": _status, "sources": _sources, "import": _import}[args.command]
    try:
        return command(args)
    except (ArchiveError, RulesFileError, MarketEvidenceError, ValueError) as exc:
        print(f"feeds: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"feeds: Redis is not reachable: {exc}", file=sys.stderr)
        return 1
