"""Statistics: the figures a trader reads, and that they are correct as of any time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from context_service.memory import ClosedTrade, Memory, compute_stats, confidence_bucket
from context_service.memory.stats import max_drawdown

from .conftest import T0, closed_event


def _trade(n: int, profit: float, **kw) -> ClosedTrade:
    return ClosedTrade.from_event(closed_event(n, profit, **kw))


def test_headline_figures_on_a_known_sequence() -> None:
    # net profits in close order: +3, -1, +2, -4, -1  (fees 0.1 each)
    trades = [_trade(i + 1, p) for i, p in enumerate([3.0, -1.0, 2.0, -4.0, -1.0])]
    stats = compute_stats("bot-a", trades, llm_cost=0.25)
    assert (stats.trades, stats.wins, stats.losses, stats.breakeven) == (5, 2, 3, 0)
    assert stats.win_ratio == pytest.approx(0.4)
    assert stats.net_pnl == pytest.approx(-1.0)
    assert stats.fees == pytest.approx(0.5)
    assert stats.gross_pnl == pytest.approx(-0.5)
    assert stats.net_after_llm == pytest.approx(-1.25)
    assert stats.avg_win == pytest.approx(2.5)
    assert stats.avg_loss == pytest.approx(-2.0)
    assert stats.profit_factor == pytest.approx(5.0 / 6.0)
    assert stats.expectancy == pytest.approx(-0.2)
    # cumulative: 3, 2, 4, 0, -1 -> peak 4, trough -1
    assert stats.max_drawdown == pytest.approx(5.0)


def test_no_trades_gives_empty_but_valid_stats() -> None:
    stats = compute_stats("bot-a", [])
    assert stats.trades == 0 and stats.win_ratio is None and stats.profit_factor is None
    assert stats.max_drawdown == 0.0


def test_drawdown_counts_losses_from_the_start() -> None:
    assert max_drawdown([-2.0, 1.0, -3.0]) == pytest.approx(4.0)
    assert max_drawdown([1.0, 2.0, 3.0]) == 0.0


def test_breakdowns_by_pair_hour_exit_reason_and_confidence() -> None:
    open_at = datetime(2024, 5, 3, 22, 15, tzinfo=UTC)
    trades = [
        _trade(1, 2.0, pair="BTC/USDT", exit_reason="roi", confidence=0.95),
        _trade(
            2,
            -1.0,
            pair="DOGE/USDT",
            exit_reason="stop_loss",
            confidence=0.62,
            open_=open_at,
            close=open_at + timedelta(hours=3),
        ),
        _trade(
            3,
            -2.0,
            pair="DOGE/USDT",
            exit_reason="stop_loss",
            confidence=None,
            open_=open_at + timedelta(days=1),
            close=open_at + timedelta(days=1, hours=1),
        ),
    ]
    trades.sort(key=lambda t: t.close_time)
    stats = compute_stats("bot-a", trades)
    assert stats.by_pair["DOGE/USDT"].trades == 2
    assert stats.by_pair["DOGE/USDT"].net_pnl == pytest.approx(-3.0)
    assert stats.by_pair["BTC/USDT"].win_ratio == 1.0
    assert stats.by_hour["22"].trades == 2  # hour of *entry*, UTC
    assert stats.by_exit_reason["stop_loss"].losses == 2
    assert set(stats.by_confidence) == {">=0.9", "0.6-0.7", "unknown"}


@pytest.mark.parametrize(
    ("confidence", "bucket"),
    [(None, "unknown"), (0.1, "<0.6"), (0.6, "0.6-0.7"), (0.79, "0.7-0.8"), (0.9, ">=0.9")],
)
def test_confidence_buckets(confidence: float | None, bucket: str) -> None:
    assert confidence_bucket(confidence) == bucket


def test_stats_as_of_a_time_see_nothing_newer(memory: Memory) -> None:
    rng = random.Random(7)
    bot = memory.bot("bot-a")
    profits = [round(rng.uniform(-3, 3), 2) for _ in range(40)]
    # Recorded out of order: storage order must not matter.
    order = list(range(40))
    rng.shuffle(order)
    for i in order:
        bot.record_trade_event(closed_event(i + 1, profits[i]))
        bot.record_llm_cost(T0 + timedelta(hours=i + 1), 0.01, f"v-{i}")
    for cut in (0, 1, 17, 40):
        as_of = T0 + timedelta(hours=cut, minutes=30)
        stats = bot.stats(as_of)
        expected = [_trade(i + 1, profits[i]) for i in range(cut)]
        assert (
            stats.model_dump()
            == compute_stats("bot-a", expected, llm_cost=stats.llm_cost, as_of=as_of).model_dump()
        )
        assert stats.trades == cut
        assert stats.net_pnl == pytest.approx(sum(profits[:cut]))
        assert stats.llm_cost == pytest.approx(0.01 * cut)
    # A trade closing exactly at as_of is included.
    assert bot.stats(T0 + timedelta(hours=5)).trades == 5


def test_stats_serialise_to_json(memory: Memory) -> None:
    bot = memory.bot("bot-a")
    bot.record_trade_event(closed_event(1, 1.5))
    document = bot.stats(T0 + timedelta(days=1)).model_dump(mode="json")
    assert document["as_of"] == "2024-05-04T12:00:00Z"
    assert document["by_pair"]["BTC/USDT"]["trades"] == 1
