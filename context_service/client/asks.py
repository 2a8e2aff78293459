"""Asking for the verdicts of one candle's candidates (the strategy's side of the gate).

For candle ``T`` (its open time ``signal``): an entry verdict for every entry candidate on a pair
without an open trade while a slot is free, an exit verdict for every open trade whose pair has
a soft-exit candidate. Each asks with ``candle_time = T`` and ``as_of = T + timeframe`` (the
moment ``T`` closed), so a verdict only uses data up to its candle's close. Verdicts already
held for ``T`` are not asked again (the gate's cache).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from context_service.client.adjustments import held_in_force
from context_service.client.factory import StrategyContext
from context_service.client.snapshot import IncompleteCandle, ta_snapshot
from context_service.client.state import Candidate, Row, StrategyState
from context_service.contract import OpenPosition
from context_service.risk.critical import CriticalKind

logger = logging.getLogger(__name__)


def ask_candle(
    ctx: StrategyContext,
    state: StrategyState,
    timeframe: str,
    signal: datetime,
    open_trades: Iterable[Any],
    *,
    only_pair: str | None = None,
    stop_on_failure: bool = True,
) -> bool:
    """Ask for the verdicts of candle ``signal``'s candidates; False when the engine failed
    one (with ``stop_on_failure`` the remaining asks are skipped: a dead sidecar must not stall
    the bot loop on every pair; their entries stay refused, exits need no verdict)."""
    if ctx.gate is None:
        return True
    epoch = int(signal.timestamp())
    entry_rows = state.candidates_at("entry", epoch, only_pair)
    exit_rows = state.candidates_at("exit", epoch, only_pair)
    if not entry_rows and not exit_rows:
        return True  # no candidate on this candle: nothing to ask
    trades = {t.pair: t for t in open_trades}
    slots_free = len(trades) < ctx.guard.limits.max_open_trades
    regimes = ctx.regimes
    as_of = signal + _timeframe_delta(timeframe)
    paused = held_in_force(ctx, state, as_of).paused
    asks: list[tuple[str, Row, Candidate, OpenPosition | None]] = [
        (pair, row, "entry", None)
        for pair, row in entry_rows.items()
        if pair not in trades
        and slots_free
        # no verdict (nor LLM spend) for an entry the regime response refuses anyway
        and (regimes is None or not regimes.action(pair, signal).pause_entries)
        and pair not in paused  # nor for one an LLM adjustment in force pauses
    ]
    asks += [
        (pair, exit_rows[pair], "exit", open_position(trade, exit_rows[pair]["close"]))
        for pair, trade in trades.items()
        if pair in exit_rows
    ]
    ok = True
    for pair, row, candidate, position in asks:
        if not _ask(ctx, state, timeframe, pair, signal, row, as_of, candidate, position):
            ok = False
            if stop_on_failure:
                break
    return ok


def _ask(
    ctx: StrategyContext,
    state: StrategyState,
    timeframe: str,
    pair: str,
    signal: datetime,
    row: Row,
    as_of: datetime,
    candidate: Candidate,
    position: OpenPosition | None,
) -> bool:
    """One verdict; False when the engine gave none (a pending one is no failure)."""
    assert ctx.gate is not None
    try:
        snapshot = ta_snapshot(pair, timeframe, signal, row)
    except (IncompleteCandle, ValueError) as exc:
        logger.info("no verdict asked for %s %s: %s", pair, signal, exc)
        return True  # nothing to ask: not an engine failure
    verdict = ctx.gate.fetch(snapshot, as_of=as_of, candidate=candidate, position=position)
    if verdict is None:
        # Pending (asynchronous asks, the default over HTTP: the sidecar is still working on
        # it) is no failure: the other pairs are still asked, and this one again next loop.
        return ctx.gate.is_pending(pair, candidate, signal)
    if "llm:redis_error" in (verdict.fallback_reason or ""):
        # the LLM is on but its cost ledger (Redis) cannot be reached: spend cannot be
        # reserved against the caps; the verdict fell back to the rules
        ctx.critical(CriticalKind.ledger_unreachable, verdict.fallback_reason, block=False)
    state.mark(pair, int(signal.timestamp()), verdict)
    return True


def open_position(trade: Any, close: float) -> OpenPosition | None:
    """The open trade as the verdict request describes it (None: a trade without fills yet,
    asked about without a position)."""
    try:
        return OpenPosition(
            trade_id=trade.id,
            open_rate=trade.open_rate,
            amount=trade.amount,
            stake=trade.stake_amount,
            opened_at=trade.open_date_utc,
            current_profit_ratio=trade.calc_profit_ratio(close),
        )
    except Exception:
        return None


def _timeframe_delta(timeframe: str) -> timedelta:
    from freqtrade.exchange import timeframe_to_seconds

    return timedelta(seconds=timeframe_to_seconds(timeframe))
