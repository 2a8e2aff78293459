"""The evaluation's arithmetic: daily figures, bootstrap intervals, windows, regimes, holding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from context_service.evaluate import compare, holding, metrics, regimes

DAYS = pd.date_range("2022-01-01", periods=10, freq="D", tz="UTC")


def trade(opened: str, closed: str, profit: float) -> dict:
    return {
        "open_date": pd.Timestamp(opened, tz="UTC"),
        "close_date": pd.Timestamp(closed, tz="UTC"),
        "profit_abs": profit,
        "stake_amount": 10.0,
        "fee_open": 0.001,
        "fee_close": 0.001,
        "amount": 1.0,
        "close_rate": 10.0,
    }


def test_daily_pnl_books_profit_on_close_day_and_llm_cost_on_verdict_day() -> None:
    trades = [
        trade("2022-01-01 05:00", "2022-01-03 10:00", 2.0),
        trade("2022-01-02", "2022-01-03", -0.5),
    ]
    costs = [(pd.Timestamp("2022-01-02 12:00", tz="UTC"), 0.25)]
    pnl = metrics.daily_pnl(trades, DAYS, costs)
    assert pnl[pd.Timestamp("2022-01-03", tz="UTC")] == pytest.approx(1.5)
    assert pnl[pd.Timestamp("2022-01-02", tz="UTC")] == pytest.approx(-0.25)
    assert pnl.sum() == pytest.approx(1.25)


def test_drawdown_profit_factor_and_exposure() -> None:
    equity = pd.Series([100, 110, 99, 120, 90], dtype=float)
    assert metrics.max_drawdown(equity) == pytest.approx(0.25)
    trades = [trade("2022-01-01", "2022-01-03", 3.0), trade("2022-01-02", "2022-01-04", -1.0)]
    assert metrics.profit_factor(trades) == pytest.approx(3.0)
    assert metrics.profit_factor([trade("2022-01-01", "2022-01-02", 1.0)]) == float("inf")
    assert metrics.profit_factor([]) is None
    # overlapping trades count once: 3 of 9 days
    share = metrics.exposure(trades, DAYS[0], DAYS[-1])
    assert share == pytest.approx(3 / 9)


def test_sharpe_is_undefined_for_flat_equity() -> None:
    assert metrics.sharpe_sortino(pd.Series([100.0] * 10)) == (None, None)
    rising = pd.Series(100 * np.cumprod(1 + np.array([0.01, -0.005] * 20)))
    sharpe, sortino = metrics.sharpe_sortino(rising)
    assert sharpe is not None and sharpe > 0 and sortino is not None and sortino > sharpe


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    diff = rng.normal(0.1, 1.0, 400)
    first = compare.block_bootstrap(diff)
    assert first.low < first.estimate < first.high
    assert first == compare.block_bootstrap(diff)  # seeded
    assert compare.block_bootstrap(np.full(100, 0.2)).low > 0  # always ahead: adds value
    assert compare.block_bootstrap(np.full(100, 0.2)).reading == "adds value"
    assert compare.block_bootstrap(-np.full(100, 0.2)).reading == "removes value"
    assert compare.block_bootstrap(np.array([])).days == 0


def test_windows_by_quarter_and_by_count() -> None:
    days = pd.date_range("2022-01-01", "2022-12-31", freq="D", tz="UTC")
    assert list(dict.fromkeys(compare.window_labels(days, "quarter"))) == [
        "2022Q1", "2022Q2", "2022Q3", "2022Q4"
    ]  # fmt: skip
    assert len(set(compare.window_labels(days, "5"))) == 5
    series = {name: pd.Series(1.0, index=days) for name in ("g", "u", "r")}
    rows = compare.windows_table(series, "g", "r", "u", "quarter")
    assert [r["g"] for r in rows] == [90.0, 91.0, 92.0, 92.0]
    assert rows[0]["vs_random"]["estimate"] == 0.0


def test_regimes_are_point_in_time() -> None:
    dates = pd.date_range("2021-01-01", periods=24 * 500, freq="h", tz="UTC")
    close = pd.Series(np.linspace(100, 200, len(dates)))
    btc = pd.DataFrame({"date": dates, "close": close})
    days = pd.date_range("2022-01-01", "2022-03-01", freq="D", tz="UTC")
    before = regimes.btc_regimes(btc, days)
    # Changing everything after 2022-02-01 must not change a regime up to that day.
    later = btc.copy()
    later.loc[later["date"] >= pd.Timestamp("2022-02-01", tz="UTC"), "close"] = 1.0
    after = regimes.btc_regimes(later, days)
    known = days <= pd.Timestamp("2022-02-01", tz="UTC")
    assert before[known].equals(after[known])
    assert set(before["trend"]) == {"up"}  # a steady rise
    assert (after.loc[pd.Timestamp("2022-02-10", tz="UTC"), "trend"]) == "down"


def test_buy_and_hold_pays_both_fees() -> None:
    dates = pd.date_range("2022-01-01", periods=48, freq="h", tz="UTC")
    candles = pd.DataFrame({"date": dates, "open": 100.0, "close": 110.0})
    days = pd.date_range("2022-01-01", "2022-01-02", freq="D", tz="UTC")
    equity = holding.hold_equity(candles, 100.0, 0.001, days)
    assert equity.iloc[-1] == pytest.approx(100 * 0.999 * 1.1 * 0.999)
    assert holding.hold_trade(candles, 100.0, 0.001)["profit_abs"] == pytest.approx(
        100 * 0.999 * 1.1 * 0.999 - 100
    )
    late = candles.iloc[30:]  # listed on the second day: cash until then
    assert holding.hold_equity(late, 50.0, 0.0, days).iloc[0] == 50.0


def test_regimes_without_btc_candles_are_unknown() -> None:
    days = pd.date_range("2022-01-01", periods=3, freq="D", tz="UTC")
    table = regimes.btc_regimes(pd.DataFrame(), days)
    assert set(table["trend"]) == {"n/a"} and set(table["volatility"]) == {"n/a"}


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        (6.78, "positive: the gate removed winners"),
        (-0.5, "negative: the gate removed losers"),
        (0.0, "zero: what the gate removed made nothing"),
        (float("nan"), "not measured"),
    ],
)
def test_the_refused_set_is_read_by_its_sign(value, meaning):
    from context_service.evaluate.shadow import refused_set_meaning

    assert refused_set_meaning(value) == meaning
