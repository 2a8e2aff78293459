"""The estimate's pre-pass of ``backtest``: the same Freqtrade backtest, quietly, with the dry
``llm`` step (``dry_llm.py``), counting the asks that would reach the LLM."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from context_service.backtest.dry_llm import DryTally
from context_service.backtest.llm_guard import SpendGuard

REPLAY = "replay"


@dataclass(frozen=True)
class Prepass:
    """The pre-pass' asks: all of them, those the replay cache answered, and the prompts of
    the others (one per call the real run would make)."""

    asks: int
    cached: int
    tally: DryTally


def dry_backtest(config: dict[str, Any], guard: SpendGuard) -> Prepass:
    """Run the backtest of ``config`` once with the dry ``llm`` step; nothing is printed."""
    from freqtrade.optimize.backtesting import Backtesting

    quiet = logging.getLogger("freqtrade")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # the real run logs every step; once is enough
    try:
        with guard.dry() as tally:
            backtesting = Backtesting(config)
            data, timerange = backtesting.load_bt_data()
            strategy = backtesting.strategylist[0]
            backtesting.backtest_one_strategy(strategy, data, timerange)
            ctx = strategy.ctx
            stats = ctx.stats if ctx is not None else None
            if ctx is not None and ctx.client is not None:
                ctx.client.close()
    finally:
        quiet.setLevel(level)
    asks = stats.decisions if stats is not None else 0
    cached = stats.verdicts_by_source.get(REPLAY, 0) if stats is not None else 0
    return Prepass(asks, cached, tally)
