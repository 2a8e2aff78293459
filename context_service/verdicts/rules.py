"""The deterministic verdict policy: the offline default and the LLM's fallback.

It reads only the TA snapshot of the request, so it is reproducible, free, and has no look-ahead:
every value in the snapshot belongs to a closed candle at or before ``candle_time``.
"""

from __future__ import annotations

from dataclasses import dataclass

from context_service.contract import Action, Decision, TASnapshot, VerdictRequest
from context_service.verdicts.market_data import snapshot_evidence_id


@dataclass(frozen=True, slots=True)
class RulesPolicy:
    """Trend-following confirmation with momentum and overextension checks.

    Entry (``buy``): the fast EMA is above the slow EMA, price is above the long trend EMA,
    MACD momentum is positive and RSI is not overbought. Confidence grows with the number of
    supporting signals and shrinks with volatility (ATR as a share of price).
    Exit (``sell``): momentum has turned (MACD histogram below zero and price under the slow
    EMA) or RSI is extremely overbought.
    """

    rsi_overbought: float = 70.0
    rsi_exit: float = 80.0
    max_atr_pct: float = 0.06

    def decide(self, request: VerdictRequest) -> Decision:
        """The decision on ``request``, citing its TA snapshot."""
        snap = request.snapshot
        if request.candidate == "exit" or request.position is not None:
            decision = self._exit(snap)
        else:
            decision = self._entry(snap)
        decision.evidence_ids = [snapshot_evidence_id(snap)]
        return decision

    def _entry(self, s: TASnapshot) -> Decision:
        checks = {
            "EMA fast above slow": s.ema_fast > s.ema_slow,
            "close above long EMA": s.close > s.ema_trend,
            "MACD histogram positive": s.macd_hist > 0,
            f"RSI below {self.rsi_overbought:g}": s.rsi < self.rsi_overbought,
            "close inside Bollinger bands": s.bb_lower <= s.close <= s.bb_upper,
        }
        passed = [name for name, ok in checks.items() if ok]
        failed = [name for name, ok in checks.items() if not ok]
        score = len(passed) / len(checks)
        volatility_penalty = min(1.0, s.atr_pct / self.max_atr_pct) * 0.2
        confidence = round(max(0.0, score - volatility_penalty), 4)
        essential = s.ema_fast > s.ema_slow and s.rsi < self.rsi_overbought
        if essential and score >= 0.6:
            why = "supports entry: " + ", ".join(passed)
            if failed:
                why += "; against: " + ", ".join(failed)
            return Decision(Action.buy, confidence, why)
        return Decision(
            Action.hold,
            round(1.0 - confidence, 4),
            "no entry: " + ", ".join(failed or ["volatility too high"]),
        )

    def _exit(self, s: TASnapshot) -> Decision:
        if s.rsi >= self.rsi_exit:
            return Decision(Action.sell, 0.8, f"RSI {s.rsi:.1f} extremely overbought")
        if s.macd_hist < 0 and s.close < s.ema_slow:
            return Decision(Action.sell, 0.7, "momentum turned: MACD negative, below slow EMA")
        return Decision(Action.hold, 0.6, "trend intact")
