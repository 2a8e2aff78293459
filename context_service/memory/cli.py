"""``python -m context_service memory ...``: a bot's statistics, insights and audit trail.

Examples::

    python -m context_service memory stats --bot bot-1
    python -m context_service memory stats --bot bot-1 --as-of 2024-05-03T14:05Z --json
    python -m context_service memory insights --bot bot-1 --refresh
    python -m context_service memory audit --bot bot-1 --at "2024-05-03 14:05" --window 10
    python -m context_service memory retention

Times are ISO 8601; a time without an offset is read as UTC (and printed as UTC).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import redis

from context_service.bounds import check_horizon_time
from context_service.keys import DEFAULT_PREFIX, InvalidBotId, Keyspace, validate_bot_id
from context_service.models import Insight
from context_service.settings import get_settings

from .connection import connect
from .memory import BotMemory, Memory
from .models import AuditEntry, GroupStats, TradeStats


class UsageError(Exception):
    """Bad input on the command line: printed without a traceback, exit code 2."""


def parse_time(text: str) -> datetime:
    """ISO 8601 time; without an offset it is UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"bad time {text!r}: use ISO 8601, e.g. 2024-05-03T14:05Z or '2024-05-03 14:05'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:  # the same window as the HTTP API (year 9999 would overflow the audit window)
        return check_horizon_time(moment)
    except ValueError as exc:
        raise UsageError(f"bad time {text!r}: {exc}") from None


def _bot_id(text: str) -> str:
    try:
        return validate_bot_id(text)
    except InvalidBotId as exc:
        raise UsageError(str(exc)) from None


def _fmt_time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        rest = [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def render_stats(stats: TradeStats) -> str:
    """The statistics as a trader reads them: a summary, then the breakdowns."""
    summary = [
        ("closed trades", str(stats.trades)),
        ("wins / losses / even", f"{stats.wins} / {stats.losses} / {stats.breakeven}"),
        ("win ratio", _pct(stats.win_ratio)),
        ("PnL gross (before fees)", _num(stats.gross_pnl, signed=True)),
        ("exchange fees", _num(stats.fees)),
        ("PnL net of fees", _num(stats.net_pnl, signed=True)),
        ("LLM cost (USD)", _num(stats.llm_cost, 4)),
        ("PnL net of fees and LLM", _num(stats.net_after_llm, signed=True)),
        ("average win", _num(stats.avg_win, signed=True)),
        ("average loss", _num(stats.avg_loss, signed=True)),
        ("profit factor", _num(stats.profit_factor)),
        ("expectancy per trade", _num(stats.expectancy, 3, signed=True)),
        ("max drawdown", _num(stats.max_drawdown)),
        ("first / last close", f"{_fmt_time(stats.first_close)} / {_fmt_time(stats.last_close)}"),
    ]
    width = max(len(label) for label, _ in summary)
    as_of = _fmt_time(stats.as_of) if stats.as_of else "now (all recorded trades)"
    parts = [f"Bot {stats.bot_id}, as of {as_of}", ""]
    parts += [f"  {label:<{width}}  {value}" for label, value in summary]
    for title, groups in (
        ("pair", stats.by_pair),
        ("entry hour (UTC)", stats.by_hour),
        ("exit reason", stats.by_exit_reason),
        ("verdict confidence", stats.by_confidence),
    ):
        if groups:
            parts += ["", f"By {title}", _breakdown_table(groups)]
    return "\n".join(parts)


def _breakdown_table(groups: dict[str, GroupStats]) -> str:
    rows = [
        [
            name,
            str(g.trades),
            str(g.wins),
            str(g.losses),
            _pct(g.win_ratio),
            _num(g.net_pnl, signed=True),
            _num(g.avg_net, 3, signed=True),
            _num(g.profit_factor),
        ]
        for name, g in groups.items()
    ]
    return _table(["", "trades", "wins", "losses", "win%", "net", "avg", "PF"], rows)


def render_insights(insights: Sequence[Insight]) -> str:
    if not insights:
        return "No insights yet (each pattern needs a minimum number of closed trades)."
    lines = []
    for item in insights:
        state = "ACTIVE" if item.valid_until is None else f"ended {_fmt_time(item.valid_until)}"
        lines.append(f"- [{item.id}] since {_fmt_time(item.observed_at)}, {state}")
        lines.append(f"    {item.summary}")
    return "\n".join(lines)


def render_audit(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "No audit entries in that window."
    lines = []
    for entry in entries:
        payload = json.dumps(entry.payload, sort_keys=True)
        if len(payload) > 160:
            payload = payload[:157] + "..."
        lines.append(f"{entry.at:%Y-%m-%d %H:%M:%S} UTC  {entry.kind:<12} {payload}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m context_service memory",
        description="Inspect a bot's memory. Times are ISO 8601; without an offset, UTC.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--key-prefix", default=DEFAULT_PREFIX, help=f"Redis key prefix ({DEFAULT_PREFIX})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("stats", parents=[common], help="statistics and insights of a bot")
    insights = commands.add_parser("insights", parents=[common], help="insights of a bot")
    for sub in (stats, insights):
        sub.add_argument("--bot", required=True, help="bot id, e.g. bot-1")
        sub.add_argument("--as-of", help="only trades closed at or before this time")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    insights.add_argument(
        "--refresh", action="store_true", help="recompute and store them in the memory lane"
    )
    audit = commands.add_parser(
        "audit", parents=[common], help="what a bot saw and decided around a time"
    )
    audit.add_argument("--bot", required=True)
    audit.add_argument("--at", required=True, help="the moment to look at")
    audit.add_argument("--window", type=float, default=5.0, help="minutes either side (5)")
    audit.add_argument("--kind", help="only entries of this kind (e.g. verdict)")
    audit.add_argument("--limit", type=int, default=100)
    audit.add_argument("--json", action="store_true")
    commands.add_parser(
        "retention", parents=[common], help="apply retention settings to every bot now"
    )
    return parser


def _run(args: argparse.Namespace, memory: Memory) -> str:
    if args.command == "retention":
        return json.dumps(memory.apply_retention(), indent=2, sort_keys=True)
    # Reading never registers a bot; --refresh writes insights, so it does.
    writes = args.command == "insights" and args.refresh
    bot: BotMemory = memory.bot(_bot_id(args.bot), register=writes)
    if args.command == "audit":
        if args.window <= 0 or args.limit < 1:
            raise UsageError("--window must be positive and --limit at least 1")
        window = timedelta(minutes=args.window)
        moment = parse_time(args.at)
        entries = bot.audit.query(moment - window, moment + window, args.kind, args.limit)
        if args.json:
            return json.dumps([e.model_dump(mode="json") for e in entries], indent=2)
        return render_audit(entries)
    as_of = parse_time(args.as_of) if args.as_of else None
    if args.command == "insights" and args.refresh:
        found = bot.refresh_insights(as_of)
    else:
        found = bot.insights(as_of)
    if args.command == "insights":
        if args.json:
            return json.dumps([i.model_dump(mode="json") for i in found], indent=2)
        return render_insights(found)
    stats = bot.stats(as_of)
    if args.json:
        document = stats.model_dump(mode="json")
        document["insights"] = [i.model_dump(mode="json") for i in found]
        return json.dumps(document, indent=2)
    return render_stats(stats) + "\n\nInsights\n" + render_insights(found)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if getattr(args, "bot", None) is not None:
            _bot_id(args.bot)  # bad input fails before connecting
        for text in (getattr(args, "as_of", None), getattr(args, "at", None)):
            if text is not None:
                parse_time(text)
        try:
            keyspace = Keyspace(args.key_prefix)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        settings = get_settings()
        memory = Memory(connect(settings), keyspace=keyspace, settings=settings)
        print(_run(args, memory))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"error: cannot reach Redis ({exc}); check CTX_REDIS_URL", file=sys.stderr)
        return 1
    return 0
