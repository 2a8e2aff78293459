"""The strategy's regime hooks, as a mixin of ``ContextGatedStrategy`` (one concept per module).

The strategy calls them from its callbacks: :meth:`RegimeHooks._index_regimes` from
``populate_indicators``, :meth:`RegimeHooks._push_regimes` from ``bot_loop_start``, and reads the
run's tracker through :meth:`RegimeHooks._regimes` wherever a response applies (stake, entry,
trailing stop). The regime readings live in the strategy's ``StrategyState`` (candle-derived,
they outlive a run), so a context rebuilt for another run reads the same ones.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from freqtrade.strategy import IStrategy
from pandas import DataFrame

from context_service.client.regime import RegimeTracker
from context_service.risk.refusals import Refusal

logger = logging.getLogger(__name__)


class RegimeHooks(IStrategy):
    """Needs the strategy's ``ctx``, ``state``, ``dp`` and ``timeframe``.

    An ``IStrategy`` itself, not a plain mixin: Freqtrade's hyperopt registers the module of
    every base class below ``IStrategy`` to be pickled by value, and a plain mixin's own base
    (``object``) would register ``builtins``, which no pickler can copy by value.
    """

    ctx: Any
    state: Any

    def _regimes(self) -> RegimeTracker | None:
        """The run's regime tracker (None: no responses configured), reading the regimes this
        instance has indexed (a context rebuilt for another run reads the same ones)."""
        regimes = self.ctx.regimes if self.ctx is not None else None
        if regimes is not None:
            regimes.series = self.state.regime_series
        return regimes

    def informative_pairs(self) -> list[tuple[str, str]]:
        """The market's reference pair (BTC/USDT), whose candles give the market regime."""
        regimes = self._regimes()
        return regimes.informative_pairs() if regimes is not None else []

    def _index_regimes(self, dataframe: DataFrame, pair: str) -> None:
        """Regimes of the pair and of the market (closed candles only), looked up later by
        the signal candle; their numeric columns go into the frame (lookahead-analysis checks
        them, FreqUI plots them)."""
        regimes = self._regimes()
        if regimes is None:
            return
        market = None
        if pair != regimes.market_pair and self.dp is not None:
            market = self.dp.get_pair_dataframe(regimes.market_pair, self.timeframe)
        columns = regimes.index(pair, dataframe, market)
        if columns is not None:
            dataframe[list(columns.columns)] = columns

    def _push_regimes(self, signal: datetime) -> None:
        """Regime readings that changed, as market-events evidence in the bot's context (the
        dashboard and the LLM read them; best effort: the responses never depend on it)."""
        ctx, regimes = self.ctx, self._regimes()
        if ctx is None or regimes is None or ctx.client is None:
            return
        epoch = int(signal.timestamp())
        pairs = [
            *self.state.candidates_at("entry", epoch),
            *self.state.candidates_at("exit", epoch),
        ]
        try:
            objects = regimes.evidence(signal, pairs)
            if objects:
                ctx.client.upsert_knowledge(ctx.bot_id, objects)
        except Exception as exc:
            logger.warning("regime evidence not pushed: %s", exc)

    def _regime_stake(
        self, pair: str, signal: datetime, stake: float, min_stake: float | None
    ) -> float:
        """The guard-clamped ``stake`` scaled by the regime response (0: under the minimum),
        remembered as this entry's sized stake for the budget check."""
        regimes = self._regimes()
        if regimes is not None:
            stake = regimes.scale_stake(pair, signal, stake)
            if min_stake and stake < min_stake:
                self.ctx.stats.refuse(Refusal.regime_min_stake)
                return 0.0
        self.state.sized[pair] = stake
        return stake

    def _stop_scale(self, pair: str, signal: datetime, trade_id: Any) -> float:
        """The regime response's multiplier of the trailing distance (1: none)."""
        regimes = self._regimes()
        return regimes.stop_scale(pair, signal, trade_id) if regimes is not None else 1.0

    def _regime_pauses(self, pair: str, signal: datetime) -> bool:
        """True (the entry refused and counted) while a regime response pauses entries."""
        regimes = self._regimes()
        paused = regimes.pause(pair, signal) if regimes is not None else None
        if paused is None:
            return False
        return not self.ctx.refuse(pair, Refusal.regime_paused, detail="; ".join(paused.reasons))

    def _regime_entry_confirmed(self, pair: str, signal: datetime) -> None:
        regimes = self._regimes()
        if regimes is not None:
            regimes.entry_confirmed(pair, signal)
