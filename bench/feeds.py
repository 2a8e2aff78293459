"""Benchmark of the evidence feeds on the real archives (``../shared/data``).

1. Import throughput: the full news archive (and the Fear & Greed CSV) read, cleaned, tagged,
   scored and written to the market-wide store in Redis (items/s), under a throw-away key
   prefix that is wiped afterwards.
2. Synthesis with the whole archive plus TA evidence of the five pairs in store: p50/p99 of
   one decision's synthesis (1500 tokens, a random pair's assets) at random ``as_of`` times in
   2021-10 .. 2022-07 (target: p50 under 5 ms).
3. Backtest cost: Freqtrade's own run time (the summary's ``runtime_s``) of one backtest with
   ``--evidence news,sentiment``, one with gating but no evidence and one with no gating, over
   the archive's period; ratio evidence / no gating (target <= 1.25x). ``--no-backtest`` skips
   this part.

    CTX_DATA_DIR=../shared/data/kucoin .venv/bin/python bench/feeds.py [--json] [--no-backtest]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PAIRS = ("BTC/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT", "MATIC/USDT")
PERIOD = (datetime(2021, 10, 12, tzinfo=UTC), datetime(2022, 7, 6, tzinfo=UTC))
TIMERANGE = "20211001-20220710"
TARGET_P50_MS = 5.0
TARGET_RATIO = 1.25


def archive(variable: str, relative: str) -> Path:
    path = Path(os.environ.get(variable) or SHARED / relative)
    if not path.is_file():
        raise SystemExit(f"{path} not found: set {variable}")
    return path


def import_throughput(news: Path, sentiment: Path) -> dict:
    from context_service.evidence.components import FeedComponents
    from context_service.evidence.config import FeedSettings
    from context_service.evidence.importer import import_archive
    from context_service.keys import Keyspace
    from context_service.memory import Memory, connect
    from context_service.settings import get_settings

    settings = get_settings()
    client = connect(settings)
    keyspace = Keyspace(prefix=f"bench{uuid.uuid4().hex[:8]}")
    market = Memory(client, keyspace, settings).market
    components = FeedComponents(FeedSettings(_env_file=None))
    try:
        report = import_archive("news", news, market, components, show_progress=False)
        days = import_archive("sentiment", sentiment, market, components, show_progress=False)
        again = import_archive("news", news, market, components, show_progress=False)
        stored = len(market)
    finally:
        keys = list(client.scan_iter(match=keyspace.pattern, count=1000))
        if keys:
            client.delete(*keys)
    return {
        "news_rows": report.rows,
        "news_items_stored": report.stored,
        "news_seconds": round(report.seconds, 2),
        "news_items_per_s": round(report.items / report.seconds, 1),
        "sentiment_items_per_s": round(days.items / days.seconds, 1),
        "reimport_seconds": round(again.seconds, 2),
        "store_objects_after_reimport": stored,
    }


def ta_evidence(pair: str, at: datetime):
    from context_service.contract import TASnapshot
    from context_service.verdicts.market_data import snapshot_evidence

    snapshot = TASnapshot(
        pair=pair,
        timeframe="1h",
        candle_time=at,
        close=1.0,
        rsi=45,
        macd=0.01,
        macd_signal=0.0,
        macd_hist=0.01,
        ema_fast=1.01,
        ema_slow=1.0,
        ema_trend=0.98,
        atr=0.02,
        bb_lower=0.95,
        bb_middle=1.0,
        bb_upper=1.05,
        volume=100,
    )
    return snapshot_evidence(snapshot)


def synthesis_timings(news: Path, sentiment: Path, samples: int) -> dict:
    from context_service.engine import ContextEngine, InMemoryStore
    from context_service.evidence.assets import pair_assets
    from context_service.evidence.components import FeedComponents
    from context_service.evidence.config import FeedSettings
    from context_service.evidence.importer import import_archive
    from context_service.memory.market import MarketEvidence

    market = MarketEvidence(InMemoryStore())
    components = FeedComponents(FeedSettings(_env_file=None))
    import_archive("news", news, market, components, show_progress=False)
    import_archive("sentiment", sentiment, market, components, show_progress=False)
    engine = ContextEngine(shared=market)
    rng = random.Random(7)
    span = (PERIOD[1] - PERIOD[0]).total_seconds()
    moments = [PERIOD[0] + timedelta(seconds=rng.uniform(0, span)) for _ in range(samples)]
    timings, news_included = [], 0
    for index, moment in enumerate(moments):
        pair = PAIRS[index % len(PAIRS)]
        engine.upsert(ta_evidence(pair, moment))  # as the service does before synthesizing
        start = time.perf_counter()
        result = engine.synthesize(1500, as_of=moment, assets=pair_assets(pair))
        timings.append((time.perf_counter() - start) * 1000)
        news_included += sum(i.startswith("news:") for i in result.manifest.included_ids())
    warm = sorted(timings[10:])
    return {
        "store_objects": len(market) + len(PAIRS),
        "samples": len(warm),
        "p50_ms": round(statistics.median(warm), 3),
        "p99_ms": round(warm[int(0.99 * (len(warm) - 1))], 3),
        "news_items_per_synthesis": round(news_included / samples, 2),
        "target_p50_ms": TARGET_P50_MS,
        "within_target": statistics.median(warm) < TARGET_P50_MS,
    }


def backtest(extra: list[str], workdir: Path, name: str) -> dict:
    summary = workdir / f"summary-{name}.json"
    command = [sys.executable, "-m", "context_service", "backtest", "--timerange", TIMERANGE]
    command += [*extra, "--summary-json", str(summary), "--", "--backtest-directory", str(workdir)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"backtest {name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    data = json.loads(summary.read_text())
    gating = data.get("gating") or {}
    return {
        "runtime_s": data["runtime_s"],
        "wall_s": round(wall, 2),
        "trades": data["trades"],
        "decisions": gating.get("decisions", 0),
        "context_items_per_decision": gating.get("context_items_per_decision", {}),
        "decisions_with_news": gating.get("decisions_with_news", 0),
    }


def backtest_cost() -> dict:
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
        # the first --evidence run imports the archives into the store if needed (outside
        # Freqtrade's timed run): done once here so the timed runs compare like with like
        backtest(["--evidence", "news,sentiment"], Path(tmp), "warm-up")
        for name, extra in (
            ("no_gating", ["--no-gating"]),
            ("gating", []),
            ("evidence", ["--evidence", "news,sentiment"]),
        ):
            runs[name] = backtest(extra, Path(tmp), name)
    ratio = runs["evidence"]["runtime_s"] / runs["no_gating"]["runtime_s"]
    return {
        "timerange": TIMERANGE,
        **runs,
        "ratio_evidence_vs_no_gating": round(ratio, 3),
        "ratio_evidence_vs_gating": round(
            runs["evidence"]["runtime_s"] / runs["gating"]["runtime_s"], 3
        ),
        "target_ratio": TARGET_RATIO,
        "within_target": ratio <= TARGET_RATIO,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--no-backtest", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    news = archive("CTX_NEWS_ARCHIVE", "news/cryptonews.csv")
    sentiment = archive("CTX_SENTIMENT_ARCHIVE", "sentiment/fear_and_greed.csv")
    report = {
        "import": import_throughput(news, sentiment),
        "synthesis": synthesis_timings(news, sentiment, args.samples),
    }
    if not args.no_backtest:
        report["backtest"] = backtest_cost()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    imp, syn = report["import"], report["synthesis"]
    print(
        f"import: {imp['news_rows']} news rows -> {imp['news_items_stored']} items in "
        f"{imp['news_seconds']} s ({imp['news_items_per_s']:,.0f} items/s); Fear & Greed "
        f"{imp['sentiment_items_per_s']:,.0f} items/s; re-import {imp['reimport_seconds']} s, "
        f"store still {imp['store_objects_after_reimport']} objects"
    )
    print(
        f"synthesis with {syn['store_objects']} objects, {syn['samples']} random as_of: "
        f"p50 {syn['p50_ms']:.2f} ms, p99 {syn['p99_ms']:.2f} ms (target p50 < "
        f"{TARGET_P50_MS} ms: {'met' if syn['within_target'] else 'MISSED'}); "
        f"{syn['news_items_per_synthesis']} news items per synthesis"
    )
    if "backtest" in report:
        bt = report["backtest"]
        for name in ("no_gating", "gating", "evidence"):
            row = bt[name]
            print(
                f"backtest {name:<10} freqtrade run {row['runtime_s']:6.2f} s, wall "
                f"{row['wall_s']:6.2f} s, trades {row['trades']}, decisions {row['decisions']}"
            )
        print(
            f"ratio evidence / no gating {bt['ratio_evidence_vs_no_gating']:.2f} (target <= "
            f"{TARGET_RATIO}: {'met' if bt['within_target'] else 'MISSED'}); evidence / gating "
            f"{bt['ratio_evidence_vs_gating']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
