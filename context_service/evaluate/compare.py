"""Gate against its controls: walk-forward windows and bootstrap confidence intervals.

The unit is the day: each variant's daily profit (net of fees and LLM cost) in percentage
points of the starting wallet. "Gate beats X" is the sum over days of gated - X. Its
uncertainty comes from a moving-block bootstrap over days (blocks of a week keep the serial
correlation of crypto returns and of trades that span days): resample the days' differences
in blocks, sum, repeat; the 2.5 and 97.5 percentiles are the 95 % interval. Seeded, so a report
is reproducible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

BLOCK_DAYS = 7
RESAMPLES = 5000
BOOTSTRAP_SEED = 20240611


@dataclass(frozen=True)
class Interval:
    """A difference in percentage points with its bootstrap interval."""

    estimate: float
    low: float
    high: float
    share_above_zero: float  # of the resamples: how often the gate came out ahead
    days: int

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @property
    def reading(self) -> str:
        if self.low > 0:
            return "adds value"
        if self.high < 0:
            return "removes value"
        return "no clear difference"


def block_bootstrap(
    diff_pts: np.ndarray,
    *,
    block: int = BLOCK_DAYS,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval:
    """95 % interval of ``sum(diff_pts)`` by a moving-block bootstrap over its entries."""
    n = len(diff_pts)
    total = float(np.sum(diff_pts))
    if n == 0:
        return Interval(0.0, 0.0, 0.0, 0.0, 0)
    block = max(1, min(block, n))
    rng = np.random.default_rng(seed)
    blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(resamples, blocks))
    index = (starts[:, :, None] + np.arange(block)).reshape(resamples, -1)[:, :n]
    sums = diff_pts[index].sum(axis=1)
    low, high = np.percentile(sums, [2.5, 97.5])
    return Interval(total, float(low), float(high), float(np.mean(sums > 0)), n)


def window_labels(days: pd.DatetimeIndex, windows: str) -> pd.Series:
    """A label per day: calendar ``quarter`` / ``month``, or N equal parts (``"4"``)."""
    if windows in ("quarter", "month"):
        freq = "Q" if windows == "quarter" else "M"
        return pd.Series(days.tz_localize(None).to_period(freq).astype(str), index=days)
    parts = int(windows)
    edges = np.array_split(np.arange(len(days)), parts)
    labels = np.empty(len(days), dtype=object)
    for number, chunk in enumerate(edges, 1):
        if len(chunk):
            labels[chunk] = f"W{number} {days[chunk[0]]:%Y-%m-%d}"
    return pd.Series(labels, index=days)


def windows_table(
    daily_pts: dict[str, pd.Series], gated: str, random_mean: str, ungated: str, windows: str
) -> list[dict[str, Any]]:
    """Per window: each variant's points, gated - ungated and gated - random with intervals."""
    days = daily_pts[gated].index
    labels = window_labels(days, windows)
    rows = []
    for label in dict.fromkeys(labels):
        mask = (labels == label).to_numpy()
        row: dict[str, Any] = {
            "window": label,
            "start": str(days[mask][0].date()),
            "end": str(days[mask][-1].date()),
        }
        for name, series in daily_pts.items():
            row[name] = round(float(series[mask].sum()), 4)
        for other, key in ((ungated, "vs_ungated"), (random_mean, "vs_random")):
            diff = (daily_pts[gated] - daily_pts[other]).to_numpy()[mask]
            row[key] = block_bootstrap(diff).as_dict()
        rows.append(row)
    return rows
