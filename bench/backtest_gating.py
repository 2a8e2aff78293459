"""Backtest runtime with verdict gating on versus off, on the same data (target: <= 1.5x).

Runs ``python -m context_service backtest`` as a subprocess (like ``make backtest``), alternating
gating on and off, and compares the median of Freqtrade's own run time (the summary's
``runtime_s``: data load, indicators, the backtest loop with every callback, the report) and of
the wall time. Needs CTX_DATA_DIR (and a snapshot beside it or CTX_MARKETS_SNAPSHOT).

    .venv/bin/python bench/backtest_gating.py [--runs 3] [--timerange 20210101-20230101] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(gating: bool, timerange: str | None, workdir: Path) -> dict:
    summary = workdir / f"summary-{'on' if gating else 'off'}.json"
    command = [sys.executable, "-m", "context_service", "backtest", "--summary-json", str(summary)]
    if timerange:
        command += ["--timerange", timerange]
    if not gating:
        command.append("--no-gating")
    command += ["--", "--backtest-directory", str(workdir)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"backtest failed ({done.returncode}):\n{done.stderr[-2000:]}")
    data = json.loads(summary.read_text())
    gating_stats = data.get("gating") or {}
    return {
        "wall_s": wall,
        "runtime_s": data["runtime_s"],
        "trades": data["trades"],
        "decisions": gating_stats.get("decisions", 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timerange", default=None, help="default: the whole data set")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        for _ in range(args.runs):
            for mode in ("off", "on"):
                results[mode].append(one_run(mode == "on", args.timerange, Path(tmp)))
    table = {}
    for mode, runs in results.items():
        table[mode] = {
            "runtime_s_median": statistics.median(r["runtime_s"] for r in runs),
            "wall_s_median": statistics.median(r["wall_s"] for r in runs),
            "trades": runs[0]["trades"],
            "decisions": runs[0]["decisions"],
        }
    ratio = table["on"]["runtime_s_median"] / table["off"]["runtime_s_median"]
    wall_ratio = table["on"]["wall_s_median"] / table["off"]["wall_s_median"]
    report = {
        "timerange": args.timerange or "all data",
        "runs": args.runs,
        "gating_off": table["off"],
        "gating_on": table["on"],
        "ratio_runtime": round(ratio, 3),
        "ratio_wall": round(wall_ratio, 3),
        "target_ratio": 1.5,
        "within_target": ratio <= 1.5,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'gating':<8}{'freqtrade run s':>16}{'wall s':>10}{'trades':>8}{'decisions':>11}")
    for mode in ("off", "on"):
        row = table[mode]
        print(
            f"{mode:<8}{row['runtime_s_median']:>16.2f}{row['wall_s_median']:>10.2f}"
            f"{row['trades']:>8}{row['decisions']:>11}"
        )
    print(f"ratio on/off: {ratio:.2f} (wall {wall_ratio:.2f}); target <= 1.5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
