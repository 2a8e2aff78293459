"""Benchmark of context synthesis: candidates into a token budget.

For 1k, 5k and 50k candidates (a realistic mix of news, TA snapshots, events, risks, goals
and insights) and a 1500-token budget, measures the median and p99 time of
``ContextEngine.synthesize`` and the share of the budget used. Objects are upserted (and their
tokens counted) before timing, as in the service. The table also shows the one-off time to
build the manifest's entry objects, which happens only when someone reads them.

    python bench/synthesis.py            # table
    python bench/synthesis.py --json     # JSON list of rows: items, budget, p50_ms, p99_ms,
                                         # fill_ratio
    python bench/synthesis.py --as-of    # backtest mode: as_of set, future objects excluded
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import time
from datetime import timedelta

from context_service.engine import ContextEngine
from context_service.engine.samples import T0, mixed_corpus

SIZES = (1_000, 5_000, 50_000)
BUDGET = 1_500


def _repeats(items: int) -> int:
    return 300 if items <= 5_000 else 60


def measure(items: int, budget: int, as_of: bool) -> dict:
    engine = ContextEngine()
    engine.upsert_many(mixed_corpus(items), now=T0 - timedelta(days=3))
    moment = {"as_of": T0 - timedelta(hours=12)} if as_of else {"now": T0}
    for _ in range(5):  # warm-up: numpy, caches
        engine.synthesize(budget, **moment)
    gc.collect()
    timings = []
    for _ in range(_repeats(items)):
        start = time.perf_counter()
        result = engine.synthesize(budget, **moment)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    start = time.perf_counter()
    entries = result.manifest.entries
    entries_ms = (time.perf_counter() - start) * 1000
    return {
        "items": items,
        "budget": budget,
        "p50_ms": round(statistics.median(timings), 3),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 3),
        "fill_ratio": round(result.manifest.total_tokens / budget, 4),
        "_entries_ms": round(entries_ms, 1),
        "_entries": len(entries),
        "_included": len(result.manifest.included_ids()),
        "_encoding": result.manifest.encoding,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    parser.add_argument("--as-of", action="store_true", help="synthesize as of a past time")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--budget", type=int, default=BUDGET)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    rows = [measure(items, args.budget, args.as_of) for items in args.sizes]
    if args.json:
        public = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        print(json.dumps(public))
        return 0
    mode = "as-of" if args.as_of else "live"
    print(f"context synthesis ({mode}, encoding {rows[0]['_encoding']})")
    header = f"{'items':>7} {'budget':>6} {'p50 ms':>8} {'p99 ms':>8} {'fill':>6} "
    print(header + f"{'included':>8} {'entries built once, ms':>22}")
    for row in rows:
        print(
            f"{row['items']:>7} {row['budget']:>6} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['fill_ratio']:>6.3f} {row['_included']:>8} {row['_entries_ms']:>22.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
