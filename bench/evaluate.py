"""A full evaluation against one plain backtest, on the same data (target: <= 3x).

Runs, in one invocation, ``python -m context_service backtest --no-gating`` and
``python -m context_service evaluate --no-certificate`` (ungated, gated with rules, N random
seeds; the leakage certificate is a separate, cached analysis) as subprocesses, the way a user
runs them, and prints both wall times and their ratio. Needs CTX_DATA_DIR (and a markets
snapshot beside it or CTX_MARKETS_SNAPSHOT).

    .venv/bin/python bench/evaluate.py [--timerange 20210101-20230117] [--seeds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 3.0


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[2:5])} failed ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    return wall, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timerange", default=None, help="default: the whole data set")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    period = ["--timerange", args.timerange] if args.timerange else []
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        summary = Path(tmp) / "plain.json"
        plain_cmd = [sys.executable, "-m", "context_service", "backtest", "--no-gating", *period]
        plain_cmd += ["--summary-json", str(summary), "--", "--backtest-directory", tmp]
        plain_wall, _ = timed(plain_cmd)
        plain = json.loads(summary.read_text())
        eval_cmd = [sys.executable, "-m", "context_service", "evaluate", "--no-certificate"]
        eval_cmd += [*period, "--seeds", str(args.seeds), "--workers", str(args.workers)]
        eval_cmd += ["--out", tmp, "--json"]
        eval_wall, out = timed(eval_cmd)
        evaluation = json.loads(out)
    ratio = eval_wall / plain_wall
    report = {
        "timerange": args.timerange or "all data",
        "seeds": args.seeds,
        "workers": args.workers,
        "plain_backtest_wall_s": round(plain_wall, 2),
        "plain_backtest_trades": plain["trades"],
        "evaluation_wall_s": round(eval_wall, 2),
        "evaluation_variants": [
            {"name": v["name"], "trades": v["trades"], "seconds": v["seconds"]}
            for v in evaluation["variants"]
        ],
        "ratio": round(ratio, 3),
        "target_ratio": TARGET,
        "within_target": ratio <= TARGET,
        "load_average": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"plain --no-gating backtest: {plain_wall:8.2f} s wall ({plain['trades']} trades)")
    print(f"full evaluation:            {eval_wall:8.2f} s wall")
    for v in report["evaluation_variants"]:
        print(f"  {v['name']:<22}{v['trades']:>6} trades {v['seconds']:>8.2f} s")
    print(f"ratio {ratio:.2f} (target <= {TARGET:g}); load average {report['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
