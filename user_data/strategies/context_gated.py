"""ContextGatedStrategy: TA candidates, confirmed by verdicts, inside hard risk rules.

``populate_*`` (vectorised TA-Lib) mark *candidate* entries and hard TA exits; a candidate's
verdict is asked as soon as the candidate exists (dry-run/live: right after ``populate_*``;
backtests: ``bot_loop_start``, in process with ``as_of`` = the candle's close);
``confirm_trade_entry`` enters only on a fresh ``buy`` verdict >= ``min_confidence`` inside the
daily limits and the budget guard; exits never wait for the engine; regime responses (stake,
entry pause, trailing stop) from client/regime_hooks.py, the LLM's adjustments (threshold,
stake fraction, pair pause) from client/adjustment_hooks.py. State: one ``StrategyState`` (the
opening verdict on the trade itself); every callback is wrapped by ``fail_closed``. Settings:
the config's ``"context"`` section and the ``CTX_*`` environment (docs/strategy.md).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import talib.abstract as ta
from freqtrade.enums import RunMode
from freqtrade.exchange import timeframe_to_prev_date, timeframe_to_seconds
from freqtrade.persistence import Order, Trade
from freqtrade.strategy import DecimalParameter, IntParameter
from pandas import DataFrame

from context_service.backtest.marks import load_backtest_marks
from context_service.client.adjustment_hooks import AdjustmentHooks
from context_service.client.asks import ask_candle
from context_service.client.callbacks import fail_closed
from context_service.client.factory import StrategyContext, build_strategy_context
from context_service.client.frames import (
    PLOT_CONFIG,
    add_verdict_markers,
    candle_epochs,
    index_rows,
    select_emas,
    with_emas,
)
from context_service.client.startup import start_strategy_context
from context_service.client.state import StrategyState
from context_service.risk.positions import positions_of
from context_service.risk.protections import protections
from context_service.risk.refusals import Refusal
from context_service.settings import get_settings

logger = logging.getLogger(__name__)

# PLOT: plot-dataframe asks nothing (bot_start loads the last backtest's verdicts only).
_IN_PROCESS = ("backtest", "hyperopt", "other", "util_no_exchange", "plot")
IN_PROCESS_MODES = {RunMode(mode) for mode in _IN_PROCESS}
# How many past candidates / verdicts per pair to keep in live runs (backtests keep all).
LIVE_HISTORY = 200


class ContextGatedStrategy(AdjustmentHooks):
    INTERFACE_VERSION = 3

    timeframe = "1h"
    can_short = False
    process_only_new_candles = True
    # The trend EMA is the slowest indicator: 400 candles leave its seed a weight of e^-8 at
    # period 100, e^-6.6 at 120 (recursive-analysis: stable to well under 0.1%).
    startup_candle_count: int = 400

    minimal_roi = {"0": 0.15, "1440": 0.06, "4320": 0.0}
    stoploss = -0.08  # the fixed floor; custom_stoploss trails by ATR once in profit
    use_custom_stoploss = True
    trailing_stop = False
    use_exit_signal = True
    exit_profit_only = False

    order_types = {
        "entry": "limit",
        "exit": "limit",
        "stoploss": "market",
        "stoploss_on_exchange": False,
    }

    # Hyperoptable (``freqtrade hyperopt --spaces buy sell``; docs/strategy.md). The config's
    # context.min_confidence (or CTX_MIN_CONFIDENCE) overrides min_verdict_confidence.
    entry_rsi = IntParameter(30, 50, default=40, space="buy")  # RSI recovering through it
    ema_fast_period = IntParameter(8, 30, default=21, space="buy")
    ema_slow_period = IntParameter(35, 80, default=50, space="buy")
    ema_trend_period = IntParameter(60, 120, default=100, space="buy")
    min_verdict_confidence = DecimalParameter(0.5, 0.9, default=0.6, decimals=2, space="buy")
    atr_trailing_multiplier = DecimalParameter(1.5, 4.0, default=2.5, decimals=1, space="sell")

    @property
    def protections(self) -> list[dict[str, Any]]:
        return protections()  # context_service/risk/protections.py

    plot_config = PLOT_CONFIG  # indicators, regimes, and verdict markers on their candles

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.ctx: StrategyContext | None = None
        self._tf_td = timedelta(seconds=timeframe_to_seconds(self.timeframe))
        # Candidate rows are point-in-time: a row only depends on data up to its own candle,
        # which lookahead-analysis verifies. Backtests keep everything.
        self.state = StrategyState(keep=None if self.in_process else LIVE_HISTORY)
        self._ask_failed_on: int | None = None  # candle epoch whose verdict ask failed (live)

    def reset_run_state(self) -> None:
        """Forget what a run learned (verdicts, pending entries, attribution); keep the
        candle-derived indices. ``evaluate`` re-runs one instance per variant."""
        self.state.reset_run()

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def in_process(self) -> bool:
        return self.config.get("runmode") in IN_PROCESS_MODES

    def bot_start(self, **kwargs) -> None:
        """Called once after the strategy is loaded: build the engine client, risk ledgers and,
        before live trading, run the preflight (a failure stops the bot, and should Freqtrade
        carry on anyway, every entry is refused as ``blocked``). Plots: the markers only."""
        if self.config.get("runmode") == RunMode.PLOT:
            load_backtest_marks(self.state, self.config, get_settings())
            return
        self.ctx = build_strategy_context(self.config, in_process=self.in_process)
        start_strategy_context(
            self.ctx,
            dataprovider=getattr(self, "dp", None),
            min_confidence=self.min_verdict_confidence,
        )

    # --- indicators and candidate signals (vectorised, fast) ----------------------------------

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """TA-Lib indicators of the whole frame, plus FreqUI markers of past verdicts."""
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        macd = ta.MACD(dataframe, fastperiod=12, slowperiod=26, signalperiod=9)
        dataframe["macd"] = macd["macd"]
        dataframe["macdsignal"] = macd["macdsignal"]
        dataframe["macdhist"] = macd["macdhist"]
        dataframe = with_emas(dataframe, self)  # every period of the ranges in hyperopt
        select_emas(dataframe, self)
        dataframe["atr"] = ta.ATR(dataframe, timeperiod=14)
        dataframe["atr_pct"] = dataframe["atr"] / dataframe["close"]
        bands = ta.BBANDS(dataframe, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
        dataframe["bb_upper"] = bands["upperband"]
        dataframe["bb_middle"] = bands["middleband"]
        dataframe["bb_lower"] = bands["lowerband"]
        dataframe["volume_mean"] = dataframe["volume"].rolling(20).mean()
        add_verdict_markers(dataframe, self.state.marks(metadata["pair"]))
        self._index_regimes(dataframe, metadata["pair"])
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """Mark entry *candidates* and remember their rows (the verdict asks read them)."""
        # Deliberately broad: momentum turning up is only a *candidate*; the verdict (trend,
        # volatility, context) decides. With gating off these are the plain TA entries.
        select_emas(dataframe, self)  # the epoch's periods in hyperopt
        rsi = dataframe["rsi"]
        candidate = (
            (rsi > self.entry_rsi.value)
            & (rsi.shift(1) <= self.entry_rsi.value)  # a pullback recovering
            & (dataframe["close"] > dataframe["ema_trend"])  # inside a long uptrend
            & (dataframe["volume"] > 0)
        )
        dataframe.loc[candidate, ["enter_long", "enter_tag"]] = (1, "ta_candidate")
        self.state.set_candidates(
            metadata["pair"], "entry", index_rows(dataframe, candidate, self.state.keep)
        )
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        """Mark hard TA exits and remember soft-exit candidates and ATR; in dry-run/live, ask
        for the verdicts of this pair's candle that just closed, now that its candidates are
        known (the last populate of a pair's analysis)."""
        # Hard TA exit: the close falls more than one ATR under the long trend EMA.
        floor = dataframe["ema_trend"] - dataframe["atr"]
        below = dataframe["close"] < floor
        hard_exit = below & ~below.shift(1, fill_value=False) & (dataframe["volume"] > 0)
        dataframe.loc[hard_exit, ["exit_long", "exit_tag"]] = (1, "trend_broken")
        # Softer signs that only trigger a question to the engine (custom_exit acts on a sell).
        hist = dataframe["macdhist"]
        soft = ((hist < 0) & (hist.shift(1) >= 0)) | (dataframe["rsi"] > 75)
        pair = metadata["pair"]
        self.state.set_candidates(
            pair, "exit", index_rows(dataframe, soft & ~hard_exit, self.state.keep)
        )
        epochs = candle_epochs(dataframe["date"])
        self.state.set_atr(pair, epochs, dataframe["atr_pct"].to_numpy())
        if not self.in_process and len(epochs):
            self._ask_on_new_candle(pair, int(epochs[-1]))
        return dataframe

    # --- verdicts, fetched ahead of the callbacks ----------------------------------------------

    def _signal_candle(self, current_time: datetime) -> datetime:
        """The last closed candle at ``current_time`` (its open time)."""
        return timeframe_to_prev_date(self.timeframe, current_time) - self._tf_td

    @fail_closed(None, meaning="no verdicts asked this loop")
    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        """Called at the start of every bot loop (every candle in backtests), *before* Freqtrade
        analyses a new candle: renew the lease, push the knowledge file once, and ask for the
        verdicts of the last closed candle's candidates (backtests; a retry in live runs)."""
        ctx = self.ctx
        if ctx is None:
            return
        if not self.in_process:
            ctx.renew_lease_every(current_time)
        ctx.push_knowledge()  # no-op once the knowledge file's objects are in the context
        self._ask_failed_on = None
        signal = self._signal_candle(current_time)
        self._push_regimes(signal)
        self._ask_verdicts(signal)

    def _ask_on_new_candle(self, pair: str, last_epoch: int) -> None:
        """Live: ask for ``pair``'s verdicts on the candle that just closed, unless the data is
        stale or an ask on that candle already failed this loop (do not stall the analysis of
        every pair on a dead sidecar; ``bot_loop_start`` retries next loop)."""
        signal = self._signal_candle(datetime.now(UTC))
        if last_epoch != int(signal.timestamp()) or self._ask_failed_on == last_epoch:
            return
        try:
            self._ask_verdicts(signal, pair)
        except Exception as exc:  # never let an ask break Freqtrade's analysis
            logger.warning("verdict ask for %s failed: %s", pair, exc)

    def _ask_verdicts(self, signal: datetime, only_pair: str | None = None) -> None:
        """Ask for the verdicts of candle ``signal``'s candidates (see client/asks.py)."""
        if self.ctx is None:
            return
        if self.ctx.gate is not None:
            self._sync_gate()  # threshold and adjustment limits from this epoch's parameter
        self._regimes()  # the asks skip entries a regime pause refuses anyway
        trades = Trade.get_trades_proxy(is_open=True)
        stop = not self.in_process  # live: a dead sidecar must not stall every pair
        ok = ask_candle(
            self.ctx,
            self.state,
            self.timeframe,
            signal,
            trades,
            only_pair=only_pair,
            stop_on_failure=stop,
        )
        if not ok:
            self._ask_failed_on = int(signal.timestamp())

    # --- entries: fail closed ------------------------------------------------------------------

    @fail_closed(0.0, meaning="refusing entry", refusal=Refusal.error, level=logging.ERROR)
    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> float:
        """Called before an entry order: the stake of one budget slot, clamped by the budget
        guard whatever the wallet proposes, then scaled by the regime response and by an
        adjusted stake fraction; 0 (no entry) when no minimum stake fits."""
        ctx = self.ctx
        if ctx is None:
            return 0.0
        stake = ctx.stake_for(pair, proposed_stake, max_stake, self._open_positions())
        if stake <= 0 or (min_stake and stake < min_stake):
            ctx.stats.refuse(Refusal.no_room)
            return 0.0
        stake = self._regime_stake(pair, self._signal_candle(current_time), stake, min_stake)
        return self._adjusted_stake(pair, current_time, stake, min_stake)

    @fail_closed(False, meaning="refusing entry", refusal=Refusal.error, level=logging.ERROR)
    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs,
    ) -> bool:
        """Called right before an entry order is placed; True places it. Fail closed, in this
        order: long only, not blocked, lease held, daily limits, no regime or adjustment pause,
        a fresh ``buy`` verdict for this candle at or above ``min_confidence`` (as adjusted),
        the budget guard (whose refusal of a stake the strategy sized itself is a critical
        error). Freqtrade would take an exception as True; the wrapper answers False."""
        ctx = self.ctx
        if ctx is None:
            return False
        if side != "long":
            return ctx.refuse(pair, Refusal.spot_only)
        if ctx.blocked_reason:
            return ctx.refuse(pair, Refusal.blocked, detail=ctx.blocked_reason)
        if not ctx.lease_held:
            return ctx.refuse(pair, Refusal.lease_not_held)
        daily = ctx.daily.gate(current_time)
        if not daily.allowed:
            return ctx.refuse(pair, daily.refusal or Refusal.error, detail=daily.reason)
        signal = self._signal_candle(current_time)
        if self._regime_pauses(pair, signal) or self._adjustment_pauses(pair, current_time):
            return False
        verdict = None
        if ctx.gate is not None:
            answer = ctx.gate.entry_allowed(pair, signal)
            answer = self._adjusted_answer(pair, current_time, answer)
            if not answer.allowed:
                return ctx.refuse(pair, answer.refusal or Refusal.error)
            verdict = answer.verdict
        sized = self.state.sized.pop(pair, None)  # each sizing answers one entry
        budget = ctx.guard.check(self._open_positions(), pair, amount * rate)
        if not budget.allowed:
            return ctx.refuse_budget(pair, amount * rate, budget, sized)
        ctx.daily.record_entry(current_time)
        ctx.stats.entries_confirmed += 1
        self._regime_entry_confirmed(pair, signal)
        self._adjustment_entry_confirmed(pair, current_time)
        self.state.entry_confirmed(pair, verdict)
        return True

    def _open_positions(self):
        return positions_of(Trade.get_trades_proxy(is_open=True), self.ctx.guard.limits.fee_rate)

    # --- exits: never wait for the engine -------------------------------------------------------

    @fail_closed(None, meaning="no verdict exit")
    def custom_exit(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        **kwargs,
    ) -> str | None:
        """Called for every open trade each loop: an exit reason when a ``sell`` verdict at or
        above ``min_confidence`` holds for this candle (read from the verdict cache only:
        exits never wait for the engine), else None."""
        ctx = self.ctx
        if ctx is None or ctx.gate is None:
            return None
        verdict = ctx.gate.exit_wanted(pair, self._signal_candle(current_time))
        if verdict is None:
            return None
        ctx.stats.verdict_exits += 1
        return f"verdict_sell_{verdict.source}"

    @fail_closed(None, meaning="the fixed stop-loss stays in force")
    def custom_stoploss(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs,
    ) -> float | None:
        """Called for every open trade each loop (and after fills): trail by
        ``atr_trailing_multiplier`` x ATR (times the regime response's stop scale) once the
        trade is one ATR in profit; None keeps the current stop (the fixed floor until then)."""
        signal_time = self._signal_candle(current_time)
        distance = self.state.atr_pct_at(pair, int(signal_time.timestamp()))
        if distance is None or current_profit < distance:
            return None
        multiplier = float(self.atr_trailing_multiplier.value)
        multiplier *= self._stop_scale(pair, signal_time, trade.id)
        return -max(multiplier * distance, 0.01)

    # --- trade memory ---------------------------------------------------------------------------

    @fail_closed(None, meaning="trade memory not updated (order handling goes on)")
    def order_filled(
        self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs
    ) -> None:
        """Called when an order fills: entry fills attach the confirming verdict to the trade
        (stored on it, so it survives a restart); exit fills record realized profit and, when
        the trade is closed, the closed trade with the verdict that opened it."""
        ctx = self.ctx
        if ctx is None:
            return
        if order.ft_order_side == trade.entry_side:
            verdict = self.state.entry_filled(pair, trade)
            ctx.record_fill(trade, order, current_time, "entry_fill", verdict)
            return
        verdict = self.state.opening_verdict(trade)
        realized = trade.calc_profit(
            rate=order.safe_price, amount=order.safe_filled, open_rate=trade.open_rate
        )
        total = self.state.exit_filled(trade, realized)
        ctx.daily.record_realized(current_time, realized)
        ctx.record_fill(trade, order, current_time, "exit_fill", verdict)
        if not trade.is_open or order.safe_filled >= trade.amount * (1 - 1e-9):
            ctx.record_close(trade, order, current_time, total, verdict)
            self.state.trade_closed(trade)
