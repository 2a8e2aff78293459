"""The regime detector against a hand computation, and its point-in-time property."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from context_service.regime import RegimeParams, detect_regimes

# KuCoin BTC/USDT 1h candles of 19 May 2021 from 06:00 UTC (open, high, low, close): the crash.
BTC_MAY_19 = [
    (39209.1, 39878.8, 39104.4, 39382.4),
    (39384.0, 40458.0, 38555.0, 40356.5),
    (40356.5, 40784.9, 39866.7, 40467.2),
    (40467.3, 40699.7, 40040.0, 40324.7),
    (40324.7, 40435.4, 38889.7, 39423.8),
    (39427.4, 39545.0, 36015.0, 38669.0),
    (38668.7, 39188.8, 32000.0, 34851.4),
    (34837.0, 37285.5, 29000.0, 35764.7),
    (35852.6, 37454.0, 33666.0, 37409.5),
    (37409.5, 37900.0, 36500.0, 37314.5),
    (37316.1, 40085.9, 36050.0, 39535.7),
    (39535.7, 40439.7, 38858.3, 39382.4),
    (39376.3, 39617.4, 37578.6, 37971.0),
    (37971.0, 39453.0, 37693.8, 39335.4),
    (39335.0, 40122.9, 37966.7, 38209.4),
    (38206.0, 38935.5, 36905.2, 38768.4),
]
SMALL = RegimeParams(
    rv_window=3,
    rank_window=4,
    atr_period=3,
    trend_window=4,
    trend_slope_lag=2,
    drawdown_window=4,
    candles_per_year=1,
    high_percentile=0.9,
    calm_percentile=0.2,
    atr_expansion=1.6,
    crash_drawdown=0.1,
)


def _frame(rows) -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=["open", "high", "low", "close"])
    data["date"] = pd.date_range("2021-05-19 06:00", periods=len(rows), freq="1h", tz="UTC")
    return data


def _by_hand(rows, p: RegimeParams) -> list[dict]:
    """Every feature with plain loops, as one would on paper."""
    close = [r[3] for r in rows]
    n = len(rows)
    ret = [math.nan] + [math.log(close[i] / close[i - 1]) for i in range(1, n)]
    rv = [math.nan] * n
    for i in range(p.rv_window, n):
        rv[i] = statistics.stdev(ret[i - p.rv_window + 1 : i + 1])
    pct = [math.nan] * n
    for i in range(n):
        window = rv[i - p.rank_window + 1 : i + 1] if i >= p.rank_window - 1 else []
        if window and not any(math.isnan(v) for v in window):
            below = sum(v < rv[i] for v in window)
            ties = sum(v == rv[i] for v in window)
            pct[i] = (below + (ties + 1) / 2) / len(window)
    # Wilder's ATR: the first is the mean of `period` true ranges (from the 2nd candle on)
    tr = [math.nan] + [
        max(rows[i][1] - rows[i][2], abs(rows[i][1] - close[i - 1]), abs(rows[i][2] - close[i - 1]))
        for i in range(1, n)
    ]
    atr = [math.nan] * n
    atr[p.atr_period] = sum(tr[1 : p.atr_period + 1]) / p.atr_period
    for i in range(p.atr_period + 1, n):
        atr[i] = (atr[i - 1] * (p.atr_period - 1) + tr[i]) / p.atr_period
    atr_pct = [a / c for a, c in zip(atr, close, strict=True)]
    ratio = [math.nan] * n
    for i in range(n):
        window = atr_pct[i - p.rank_window + 1 : i + 1] if i >= p.rank_window - 1 else []
        if window and not any(math.isnan(v) for v in window):
            ratio[i] = atr_pct[i] / statistics.median(window)
    sma = [math.nan] * n
    for i in range(p.trend_window - 1, n):
        sma[i] = sum(close[i - p.trend_window + 1 : i + 1]) / p.trend_window
    out = []
    for i in range(n):
        row = {"rv": rv[i], "pct": pct[i], "ratio": ratio[i]}
        before = sma[i - p.trend_slope_lag] if i >= p.trend_slope_lag else math.nan
        if math.isnan(before):
            row["trend"] = "unknown"
        elif close[i] > sma[i] and sma[i] > before:
            row["trend"] = "up"
        elif close[i] < sma[i] and sma[i] < before:
            row["trend"] = "down"
        else:
            row["trend"] = "sideways"
        if i >= p.drawdown_window - 1:
            window = close[i - p.drawdown_window + 1 : i + 1]
            peak = max(window)
            ago = len(window) - 1 - max(k for k, v in enumerate(window) if v == peak)
            row["drawdown"] = close[i] / peak - 1
            row["speed"] = row["drawdown"] / max(ago, 1)
        else:
            row["drawdown"] = row["speed"] = math.nan
        if any(math.isnan(row[k]) for k in ("pct", "ratio", "drawdown")):
            row["regime"] = "unknown"
        elif row["drawdown"] <= -p.crash_drawdown:
            row["regime"] = "crash"
        elif row["pct"] >= p.high_percentile or row["ratio"] >= p.atr_expansion:
            row["regime"] = "high_volatility"
        elif row["pct"] <= p.calm_percentile:
            row["regime"] = "calm"
        else:
            row["regime"] = "normal"
        out.append(row)
    return out


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_values_match_a_hand_computation_on_the_may_2021_crash() -> None:
    got = detect_regimes(_frame(BTC_MAY_19), SMALL)
    expected = _by_hand(BTC_MAY_19, SMALL)
    for i, want in enumerate(expected):
        row = got.iloc[i]
        assert _close(row["regime_rv"], want["rv"]), i
        assert _close(row["regime_rv_pct"], want["pct"]), i
        assert _close(row["regime_atr_ratio"], want["ratio"]), i
        assert _close(row["regime_drawdown"], want["drawdown"]), i
        assert _close(row["regime_drawdown_speed"], want["speed"]), i
        assert row["regime_trend"] == want["trend"], i
        assert row["regime"] == want["regime"], i


def test_the_crash_candle_by_the_numbers() -> None:
    """The 12:00 UTC candle closes at 34851.4, 13.6% under 40324.7, three candles earlier."""
    got = detect_regimes(_frame(BTC_MAY_19), SMALL).iloc[6]
    assert got["regime_drawdown"] == pytest.approx(34851.4 / 40324.7 - 1)
    assert got["regime_drawdown"] == pytest.approx(-0.135731, abs=1e-6)
    assert got["regime_drawdown_speed"] == pytest.approx((34851.4 / 40324.7 - 1) / 3)
    assert got["regime"] == "crash"
    assert got["regime_trend"] == "down"


def test_warmup_rows_are_unknown_and_the_rest_known() -> None:
    got = detect_regimes(_frame(BTC_MAY_19), SMALL)
    assert (got["regime"].iloc[: SMALL.warmup] == "unknown").all()
    assert (got["regime"].iloc[SMALL.warmup :] != "unknown").all()


def _random_walk(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    spread = np.abs(rng.normal(0, 0.01, n)) * close
    rows = list(zip(close, close + spread, close - spread, close, strict=True))
    return _frame(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_row_depends_on_a_later_candle(seed: int) -> None:
    """Truncating the data never changes an earlier row: nothing looks ahead."""
    data = _random_walk(120, seed)
    full = detect_regimes(data, SMALL)
    for end in (SMALL.warmup + 1, 40, 77, 119):
        part = detect_regimes(data.iloc[:end], SMALL)
        pd.testing.assert_frame_equal(part, full.iloc[:end])


def test_default_windows_fit_in_the_strategys_startup_candles() -> None:
    assert RegimeParams().warmup < 400


@pytest.mark.parametrize(
    "bad",
    [
        {"rv_window": 1},
        {"crash_drawdown": 0},
        {"crash_drawdown": float("nan")},
        {"high_percentile": float("inf")},
        {"calm_percentile": 0.9, "high_percentile": 0.8},
        {"rank_window": "many"},
        {"unknown_knob": 3},
    ],
)
def test_bad_parameters_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        RegimeParams(**bad)


def test_short_and_flat_frames_do_not_break() -> None:
    assert (detect_regimes(_frame(BTC_MAY_19[:2]), SMALL)["regime"] == "unknown").all()
    flat = _frame([(1.0, 1.0, 1.0, 1.0)] * 30)
    got = detect_regimes(flat, SMALL)
    # no movement at all: never a crash or high volatility (ATR 0 over a 0 median is unknown)
    assert set(got["regime"]) <= {"unknown", "calm", "normal"}
