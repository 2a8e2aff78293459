"""Volatility regimes: what state the market is in, from closed candles only.

:mod:`.detector` computes the regime features of a candle frame (vectorised, point in time);
:mod:`.evidence` turns one candle's regime into a ``market-events`` evidence object. What the
strategy does about a regime (scale stakes, pause entries, tighten the stop) is the risk
layer's business: :mod:`context_service.risk.regime`.
"""

from context_service.regime.detector import (
    REGIME_COLUMNS,
    Regime,
    RegimeParams,
    Trend,
    detect_regimes,
)

__all__ = ["REGIME_COLUMNS", "Regime", "RegimeParams", "Trend", "detect_regimes"]
