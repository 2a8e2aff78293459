"""What the strategy remembers between Freqtrade's callbacks, in one object.

* **Candidates**: per pair and kind (``entry`` / ``exit``), the TA rows of candidate candles by
  candle open time (epoch seconds). ``populate_*`` writes them; the verdict asks read them.
* **ATR**: per pair, the ATR share of price by candle, for the trailing stop.
* **Regimes**: per pair (and the market's reference pair), the regime readings by candle; every
  run's :class:`~context_service.client.regime.RegimeTracker` reads this one store.
* **Sized stakes**: the stake ``custom_stake_amount`` gave each pair's pending entry, so the
  entry's budget check can tell an impossible refusal from an ordinary one.
* **Verdict marks**: per pair, the verdicts received by candle (FreqUI plot markers); marking a
  verdict also takes the LLM adjustments in force it carries (``client/adjustments.py``).
* **Attribution**: the verdict that confirmed a pending entry, then the verdict that opened each
  trade. The latter is stored on the trade itself (Freqtrade's ``trade.set_custom_data``, in its
  database when live), so attribution survives a restart of the bot; the realized profit of a
  trade's partial exits is kept there too.

Live runs keep the last ``keep`` candles per pair; backtests (``keep=None``) keep everything.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from context_service.client.adjustments import HeldAdjustments
from context_service.contract import Verdict

logger = logging.getLogger(__name__)

Candidate = Literal["entry", "exit"]
Row = dict[str, float]

# Keys of the strategy's custom data on a Freqtrade trade.
OPENING_VERDICT_KEY = "ctx_opening_verdict"
REALIZED_KEY = "ctx_realized"


class StrategyState:
    """Candidates, verdicts and which verdict opened which trade."""

    def __init__(self, keep: int | None = None) -> None:
        self.keep = keep
        self._candidates: dict[Candidate, dict[str, dict[int, Row]]] = {"entry": {}, "exit": {}}
        self._atr: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.regime_series: dict[str, Any] = {}  # candle-derived: outlives reset_run
        self.sized: dict[str, float] = {}  # pair -> stake sized for its pending entry
        self._marks: dict[str, dict[int, Verdict]] = {}
        self.adjustments = HeldAdjustments()  # the newest verdicts' adjustments in force
        self._pending: dict[str, Verdict] = {}  # pair -> verdict of the confirmed entry
        self._opened_by: dict[Any, Verdict] = {}  # trade id -> verdict (this process's copy)

    def reset_run(self) -> None:
        """Forget what a run learned (verdict marks and adjustments, pending entries,
        attribution); keep the
        candle-derived candidates and ATR (``evaluate`` re-runs one strategy per variant; the
        trades' custom data is Freqtrade's, reset by each backtest)."""
        self._marks.clear()
        self.adjustments.reset()
        self._pending.clear()
        self.sized.clear()
        self._opened_by.clear()

    # --- candidates ----------------------------------------------------------------------
    def set_candidates(self, pair: str, kind: Candidate, rows: dict[int, Row]) -> None:
        """Replace ``pair``'s candidate rows of ``kind`` (a fresh analysis of its candles)."""
        self._candidates[kind][pair] = rows

    def candidates_at(self, kind: Candidate, epoch: int, pair: str | None = None) -> dict[str, Row]:
        """Pair -> row of every ``kind`` candidate on the candle opening at ``epoch``."""
        books = self._candidates[kind]
        pairs = [pair] if pair is not None else list(books)
        return {p: books[p][epoch] for p in pairs if epoch in books.get(p, {})}

    # --- ATR -----------------------------------------------------------------------------
    def set_atr(self, pair: str, epochs: np.ndarray, atr_pct: np.ndarray) -> None:
        self._atr[pair] = (epochs, atr_pct)

    def atr_pct_at(self, pair: str, epoch: int) -> float | None:
        """The ATR share of price on the last candle at or before ``epoch`` (None: unknown)."""
        series = self._atr.get(pair)
        if series is None:
            return None
        epochs, values = series
        index = int(np.searchsorted(epochs, epoch, side="right")) - 1
        if index < 0:
            return None
        value = float(values[index])
        return value if np.isfinite(value) else None

    # --- verdict marks -------------------------------------------------------------------
    def mark(self, pair: str, epoch: int, verdict: Verdict) -> None:
        self.adjustments.receive(verdict)
        marks = self._marks.setdefault(pair, {})
        marks[epoch] = verdict
        if self.keep is not None and len(marks) > self.keep:
            del marks[min(marks)]

    def marks(self, pair: str) -> dict[int, Verdict]:
        return self._marks.get(pair, {})

    # --- attribution ---------------------------------------------------------------------
    def entry_confirmed(self, pair: str, verdict: Verdict | None) -> None:
        """The verdict behind an entry Freqtrade is about to place on ``pair``."""
        if verdict is None:
            self._pending.pop(pair, None)
        else:
            self._pending[pair] = verdict

    def entry_filled(self, pair: str, trade: Any) -> Verdict | None:
        """Attach the pending entry's verdict to ``trade`` (on the trade: survives restarts).
        A later fill of the same trade (a partially filled order) keeps the first verdict."""
        verdict = self._pending.pop(pair, None)
        if verdict is None:
            return self.opening_verdict(trade)
        if self.opening_verdict(trade) is None:
            self._opened_by[trade.id] = verdict
            trade.set_custom_data(OPENING_VERDICT_KEY, verdict.model_dump(mode="json"))
        return self.opening_verdict(trade)

    def opening_verdict(self, trade: Any) -> Verdict | None:
        """The verdict that opened ``trade``: this process's copy, else the trade's custom data
        (a restarted bot), else None (a trade opened without gating)."""
        verdict = self._opened_by.get(trade.id)
        if verdict is not None:
            return verdict
        stored = trade.get_custom_data(OPENING_VERDICT_KEY)
        if not stored:
            return None
        try:
            verdict = Verdict.model_validate(stored)
        except ValueError as exc:
            logger.warning("trade %s: unreadable opening verdict ignored: %s", trade.id, exc)
            return None
        self._opened_by[trade.id] = verdict
        return verdict

    def exit_filled(self, trade: Any, realized: float) -> float:
        """Add one exit fill's realized profit; returns the trade's total so far (kept on the
        trade, so partial exits before a restart still count)."""
        total = float(trade.get_custom_data(REALIZED_KEY, 0.0) or 0.0) + realized
        trade.set_custom_data(REALIZED_KEY, total)
        return total

    def trade_closed(self, trade: Any) -> None:
        """Forget this process's copy of a closed trade's verdict."""
        self._opened_by.pop(trade.id, None)
