"""ContextGatedStrategy: TA candidates, confirmed by verdicts, inside hard risk rules.

* ``populate_*`` (vectorised TA-Lib) mark *candidate* entries and hard TA exits.
* ``bot_loop_start`` asks the context engine for verdicts on the pairs whose last closed candle is
  a candidate (in-process in backtests with ``as_of`` = that candle's close, over HTTP in
  dry-run/live).
* ``confirm_trade_entry`` enters only on a fresh ``buy`` verdict >= ``min_confidence`` that also
  passes the daily limits and the budget guard; it returns False on anything else, including its
  own errors (Freqtrade would treat an exception as "yes").
* Exits (exit signal, ROI, fixed + ATR-trailing stop, protections) never wait for the engine; a
  ``sell`` verdict can additionally exit through ``custom_exit``.

Settings come from the Freqtrade config's ``"context"`` section (see docs/strategy.md) and the
``CTX_*`` environment (context_service.settings).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import talib.abstract as ta
from freqtrade.enums import RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.exchange import timeframe_to_prev_date, timeframe_to_seconds
from freqtrade.persistence import Order, Trade
from freqtrade.strategy import IStrategy
from pandas import DataFrame, Series

from context_service.client.factory import StrategyContext, build_strategy_context
from context_service.client.snapshot import SNAPSHOT_COLUMNS, IncompleteCandle, ta_snapshot
from context_service.risk.positions import positions_of
from context_service.risk.refusals import Refusal
from context_service.verdicts.models import OpenPosition, Verdict

logger = logging.getLogger(__name__)

IN_PROCESS_MODES = {RunMode.BACKTEST, RunMode.HYPEROPT, RunMode.OTHER, RunMode.UTIL_NO_EXCHANGE}
# How many past candidates / verdicts per pair to keep in live runs (backtests keep all).
LIVE_HISTORY = 200


def _epochs(dates: Series) -> np.ndarray:
    """Candle open times as integer epoch seconds, whatever the datetime64 unit."""
    return dates.dt.as_unit("s").astype("int64").to_numpy()


class ContextGatedStrategy(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "1h"
    can_short = False
    process_only_new_candles = True
    # EMA(100) is the slowest indicator: 400 candles make its seed's weight e^-6 (recursive-
    # analysis shows its values stable to well under 0.1%).
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

    # Indicator parameters
    ema_fast_period = 21
    ema_slow_period = 50
    ema_trend_period = 100
    atr_trailing_multiplier = 2.5

    @property
    def protections(self) -> list[dict[str, Any]]:
        return [
            {"method": "CooldownPeriod", "stop_duration_candles": 2},
            {
                "method": "StoplossGuard",
                "lookback_period_candles": 24,
                "trade_limit": 3,
                "stop_duration_candles": 12,
                "only_per_pair": False,
            },
            {
                "method": "MaxDrawdown",
                "lookback_period_candles": 72,
                "trade_limit": 5,
                "stop_duration_candles": 24,
                "max_allowed_drawdown": 0.15,
            },
            {
                "method": "LowProfitPairs",
                "lookback_period_candles": 96,
                "trade_limit": 2,
                "stop_duration_candles": 48,
                "required_profit": -0.03,
            },
        ]

    plot_config = {
        "main_plot": {
            "ema_fast": {"color": "#f5a623"},
            "ema_slow": {"color": "#4a90e2"},
            "ema_trend": {"color": "#9013fe"},
            "bb_upper": {"color": "rgba(120,120,120,0.5)"},
            "bb_lower": {"color": "rgba(120,120,120,0.5)", "fill_to": "bb_upper"},
        },
        "subplots": {
            "RSI": {"rsi": {"color": "#d0021b"}},
            "MACD": {
                "macd": {"color": "#4a90e2"},
                "macdsignal": {"color": "#f5a623"},
                "macdhist": {"type": "bar", "color": "#7ed321"},
            },
            "ATR %": {"atr_pct": {"color": "#8b572a"}},
            "Verdicts": {
                "verdict_buy": {"type": "scatter", "color": "#2ecc71", "scatterSymbol": "circle"},
                "verdict_sell": {"type": "scatter", "color": "#e74c3c", "scatterSymbol": "diamond"},
                "verdict_hold": {"type": "scatter", "color": "#95a5a6", "scatterSymbol": "square"},
            },
        },
    }

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.ctx: StrategyContext | None = None
        self._tf_td = timedelta(seconds=timeframe_to_seconds(self.timeframe))
        # pair -> {candle epoch: row} of candidate candles (point-in-time: a row only depends on
        # data up to its own candle, which lookahead-analysis verifies)
        self._entry_candidates: dict[str, dict[int, dict[str, float]]] = {}
        self._exit_candidates: dict[str, dict[int, dict[str, float]]] = {}
        # pair -> (sorted candle epochs, ATR share of price) for the trailing stop
        self._atr_pct: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.reset_run_state()

    def reset_run_state(self) -> None:
        """Forget what a run learned (verdicts, pending entries, realized profit); keep the
        candle-derived indices above. ``evaluate`` re-runs one instance per variant."""
        self._verdict_marks: dict[str, dict[int, Verdict]] = {}
        self._entry_verdicts: dict[str, Verdict] = {}  # pair -> verdict of the pending entry
        self._trade_verdicts: dict[Any, Verdict] = {}  # trade id -> verdict that opened it
        self._realized: dict[Any, float] = {}  # trade id -> realized profit of exits so far
        self._last_lease = datetime.fromtimestamp(0, tz=UTC)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def in_process(self) -> bool:
        return self.config.get("runmode") in IN_PROCESS_MODES

    def bot_start(self, **kwargs) -> None:
        """Build the engine client, risk ledgers and, before live trading, run the preflight."""
        self.ctx = build_strategy_context(self.config, in_process=self.in_process)
        if self.config.get("runmode") == RunMode.LIVE:
            problem = self.ctx.live_preflight()
            if problem:
                # Refuse to start; and should the exception be swallowed, refuse every entry.
                self.ctx.blocked_reason = problem
                raise OperationalException(problem)
        if not self.in_process:
            self.ctx.rebuild_daily_ledger(Trade.get_trades_proxy())
            self._renew_lease(datetime.now(UTC), force=True)
        self.ctx.push_knowledge()

    def _renew_lease(self, now: datetime, force: bool = False) -> None:
        ctx = self.ctx
        if ctx is None or self.in_process:
            return
        if force or now - self._last_lease >= timedelta(seconds=30):
            ctx.renew_lease()
            self._last_lease = now

    # --- indicators and candidate signals (vectorised, fast) ----------------------------------

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        macd = ta.MACD(dataframe, fastperiod=12, slowperiod=26, signalperiod=9)
        dataframe["macd"] = macd["macd"]
        dataframe["macdsignal"] = macd["macdsignal"]
        dataframe["macdhist"] = macd["macdhist"]
        dataframe["ema_fast"] = ta.EMA(dataframe, timeperiod=self.ema_fast_period)
        dataframe["ema_slow"] = ta.EMA(dataframe, timeperiod=self.ema_slow_period)
        dataframe["ema_trend"] = ta.EMA(dataframe, timeperiod=self.ema_trend_period)
        dataframe["atr"] = ta.ATR(dataframe, timeperiod=14)
        dataframe["atr_pct"] = dataframe["atr"] / dataframe["close"]
        bands = ta.BBANDS(dataframe, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
        dataframe["bb_upper"] = bands["upperband"]
        dataframe["bb_middle"] = bands["middleband"]
        dataframe["bb_lower"] = bands["lowerband"]
        dataframe["volume_mean"] = dataframe["volume"].rolling(20).mean()
        self._mark_verdicts(dataframe, metadata["pair"])
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        # Deliberately broad: momentum turning up is only a *candidate*; the verdict (trend,
        # volatility, context) decides. With gating off these are the plain TA entries.
        rsi = dataframe["rsi"]
        candidate = (
            (rsi > 40)
            & (rsi.shift(1) <= 40)  # a pullback recovering
            & (dataframe["close"] > dataframe["ema_trend"])  # inside a long uptrend
            & (dataframe["volume"] > 0)
        )
        dataframe.loc[candidate, ["enter_long", "enter_tag"]] = (1, "ta_candidate")
        self._entry_candidates[metadata["pair"]] = self._index_rows(dataframe, candidate)
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        # Hard TA exit: the close falls more than one ATR under the long trend EMA.
        floor = dataframe["ema_trend"] - dataframe["atr"]
        below = dataframe["close"] < floor
        hard_exit = below & ~below.shift(1, fill_value=False) & (dataframe["volume"] > 0)
        dataframe.loc[hard_exit, ["exit_long", "exit_tag"]] = (1, "trend_broken")
        # Softer signs that only trigger a question to the engine (custom_exit acts on a sell).
        hist = dataframe["macdhist"]
        soft = ((hist < 0) & (hist.shift(1) >= 0)) | (dataframe["rsi"] > 75)
        self._exit_candidates[metadata["pair"]] = self._index_rows(dataframe, soft & ~hard_exit)
        epochs = _epochs(dataframe["date"])
        self._atr_pct[metadata["pair"]] = (epochs, dataframe["atr_pct"].to_numpy())
        return dataframe

    def _index_rows(self, dataframe: DataFrame, mask) -> dict[int, dict[str, float]]:
        rows = dataframe.loc[mask, ["date", *SNAPSHOT_COLUMNS]]
        if not self.in_process:
            rows = rows.tail(LIVE_HISTORY)
        epochs = _epochs(rows["date"])
        records = rows.drop(columns="date").to_dict("records")
        return dict(zip(epochs.tolist(), records, strict=True))

    def _mark_verdicts(self, dataframe: DataFrame, pair: str) -> None:
        """Verdict markers for FreqUI: the confidence of past verdicts on their candles."""
        marks = self._verdict_marks.get(pair)
        for action in ("buy", "sell", "hold"):
            dataframe[f"verdict_{action}"] = np.nan
        if not marks:
            return
        epochs = Series(_epochs(dataframe["date"]), index=dataframe.index)
        for action in ("buy", "sell", "hold"):
            by_epoch = {e: v.confidence for e, v in marks.items() if v.action == action}
            dataframe[f"verdict_{action}"] = epochs.map(by_epoch)

    # --- verdicts, fetched ahead of the callbacks ----------------------------------------------

    def _signal_candle(self, current_time: datetime) -> datetime:
        """The last closed candle at ``current_time`` (its open time)."""
        return timeframe_to_prev_date(self.timeframe, current_time) - self._tf_td

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        self._renew_lease(current_time)
        ctx.push_knowledge()  # no-op once the knowledge file's objects are in the context
        if ctx.gate is None:
            return
        signal = self._signal_candle(current_time)
        epoch = int(signal.timestamp())
        entry_rows = {p: rows[epoch] for p, rows in self._entry_candidates.items() if epoch in rows}
        exit_rows = {p: rows[epoch] for p, rows in self._exit_candidates.items() if epoch in rows}
        if not entry_rows and not exit_rows:
            return  # no candidate on this candle: nothing to ask, no trade query either
        open_trades = {t.pair: t for t in Trade.get_trades_proxy(is_open=True)}
        slots_free = len(open_trades) < ctx.guard.limits.max_open_trades
        # A verdict for candle T uses data up to T's close, which is `signal + timeframe`.
        as_of = signal + self._tf_td
        asks: list[tuple[str, dict[str, float], str, OpenPosition | None]] = [
            (pair, row, "entry", None)
            for pair, row in entry_rows.items()
            if pair not in open_trades and slots_free
        ]
        asks += [
            (pair, exit_rows[pair], "exit", self._open_position(trade, exit_rows[pair]))
            for pair, trade in open_trades.items()
            if pair in exit_rows
        ]
        for pair, row, candidate, position in asks:
            if not self._fetch(pair, signal, row, as_of, candidate, position) and (
                not self.in_process
            ):
                # The sidecar failed: do not stall the bot loop on the other pairs as well.
                # Their entries stay refused (no verdict); exits do not need one.
                break

    def _fetch(self, pair, signal, row, as_of, candidate, position) -> bool:
        """Ask for one verdict; False when the engine gave none."""
        ctx = self.ctx
        assert ctx is not None and ctx.gate is not None
        try:
            snapshot = ta_snapshot(pair, self.timeframe, signal, row)
        except (IncompleteCandle, ValueError) as exc:
            logger.info("no verdict asked for %s %s: %s", pair, signal, exc)
            return True  # nothing to ask: not an engine failure
        verdict = ctx.gate.fetch(snapshot, as_of=as_of, candidate=candidate, position=position)
        if verdict is None:
            return False
        marks = self._verdict_marks.setdefault(pair, {})
        marks[int(signal.timestamp())] = verdict
        if not self.in_process and len(marks) > LIVE_HISTORY:
            del marks[min(marks)]
        return True

    @staticmethod
    def _open_position(trade: Trade, row: dict[str, float]) -> OpenPosition | None:
        try:
            return OpenPosition(
                trade_id=trade.id,
                open_rate=trade.open_rate,
                amount=trade.amount,
                stake=trade.stake_amount,
                opened_at=trade.open_date_utc,
                current_profit_ratio=trade.calc_profit_ratio(row["close"]),
            )
        except Exception:  # a trade without fills yet: ask without a position
            return None

    # --- entries: fail closed ------------------------------------------------------------------

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
        """One budget slot, clamped by the budget guard, whatever the wallet proposes."""
        try:
            ctx = self.ctx
            if ctx is None:
                return 0.0
            stake = ctx.stake_for(pair, proposed_stake, max_stake, self._open_positions())
            if stake <= 0 or (min_stake and stake < min_stake):
                ctx.stats.refuse(Refusal.no_room)
                return 0.0
            return stake
        except Exception as exc:
            logger.exception("custom_stake_amount failed, refusing entry: %s", exc)
            if self.ctx is not None:
                self.ctx.stats.refuse(Refusal.error)
            return 0.0

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
        try:
            return self._confirm_entry(pair, amount, rate, current_time, side)
        except Exception as exc:  # Freqtrade would take an exception as True: refuse instead
            logger.exception("confirm_trade_entry failed, refusing entry on %s: %s", pair, exc)
            if self.ctx is not None:
                self.ctx.stats.refuse(Refusal.error)
            return False

    def _confirm_entry(
        self, pair: str, amount: float, rate: float, current_time: datetime, side: str
    ) -> bool:
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
        verdict = None
        if ctx.gate is not None:
            answer = ctx.gate.entry_allowed(pair, self._signal_candle(current_time))
            if not answer.allowed:
                return ctx.refuse(pair, answer.refusal or Refusal.error)
            verdict = answer.verdict
        budget = ctx.guard.check(self._open_positions(), pair, amount * rate)
        if not budget.allowed:
            return ctx.refuse(pair, budget.refusal or Refusal.error, detail=budget.reason)
        ctx.daily.record_entry(current_time)
        ctx.stats.entries_confirmed += 1
        if verdict is not None:
            self._entry_verdicts[pair] = verdict
        return True

    def _open_positions(self):
        ctx = self.ctx
        assert ctx is not None
        return positions_of(Trade.get_trades_proxy(is_open=True), ctx.guard.limits.fee_rate)

    # --- exits: never wait for the engine -------------------------------------------------------

    def custom_exit(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        **kwargs,
    ) -> str | None:
        try:
            ctx = self.ctx
            if ctx is None or ctx.gate is None:
                return None
            verdict = ctx.gate.exit_wanted(pair, self._signal_candle(current_time))
            if verdict is None:
                return None
            ctx.stats.verdict_exits += 1
            return f"verdict_sell_{verdict.source}"
        except Exception as exc:
            logger.warning("custom_exit failed for %s (no verdict exit): %s", pair, exc)
            return None

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
        """Trail by ``atr_trailing_multiplier`` x ATR once the trade is one ATR in profit."""
        try:
            series = self._atr_pct.get(pair)
            if series is None:
                return None
            epochs, atr_pct = series
            signal = int(self._signal_candle(current_time).timestamp())
            index = int(np.searchsorted(epochs, signal, side="right")) - 1
            if index < 0:
                return None
            distance = float(atr_pct[index])
            if not np.isfinite(distance) or current_profit < distance:
                return None
            return -max(self.atr_trailing_multiplier * distance, 0.01)
        except Exception:  # the fixed stoploss stays in force
            return None

    # --- trade memory ---------------------------------------------------------------------------

    def order_filled(
        self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs
    ) -> None:
        try:
            ctx = self.ctx
            if ctx is None:
                return
            if order.ft_order_side == trade.entry_side:
                verdict = self._entry_verdicts.pop(pair, None)
                if verdict is not None:
                    self._trade_verdicts[trade.id] = verdict
                ctx.record_fill(trade, order, current_time, "entry_fill", verdict)
                return
            verdict = self._trade_verdicts.get(trade.id)
            realized = trade.calc_profit(
                rate=order.safe_price, amount=order.safe_filled, open_rate=trade.open_rate
            )
            self._realized[trade.id] = self._realized.get(trade.id, 0.0) + realized
            ctx.daily.record_realized(current_time, realized)
            ctx.record_fill(trade, order, current_time, "exit_fill", verdict)
            closed = not trade.is_open or order.safe_filled >= trade.amount * (1 - 1e-9)
            if closed:
                total = self._realized.pop(trade.id, realized)
                ctx.record_close(trade, order, current_time, total, verdict)
                self._trade_verdicts.pop(trade.id, None)
        except Exception as exc:  # memory is best effort: never disturb order handling
            logger.warning("trade memory not updated for %s: %s", pair, exc)
