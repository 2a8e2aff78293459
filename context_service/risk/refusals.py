"""Why an entry was refused: one constant per category, counted by the run's gating stats.

Every refusal carries one of these as its category and, separately, a human detail line; a
category is never parsed back out of a message.
"""

from __future__ import annotations

from enum import StrEnum


class Refusal(StrEnum):
    """Categories of refused entries (the values are what the run summary shows)."""

    spot_only = "spot only: no short entries"
    blocked = "blocked"  # the live preflight failed at start
    lease_not_held = "sub-account lease not held"
    daily_trade_limit = "daily trade limit"
    daily_loss_limit = "daily loss limit"
    engine_unavailable = "engine unavailable"
    no_verdict = "no verdict for this candle"
    verdict_pending = "verdict pending"
    verdict_late = "verdict came too late"
    verdict_hold = "verdict hold"
    verdict_sell = "verdict sell"
    low_confidence = "confidence below minimum"
    pair_cap = "pair cap"
    budget = "budget"
    invalid_stake = "invalid stake"
    no_room = "budget: no room for a minimum stake"
    regime_paused = "regime: entries paused"  # the market is in a crash regime
    regime_min_stake = "regime: scaled stake below the exchange minimum"
    adjustment_paused = "paused by adjustment"  # an LLM pause_pair adjustment in force
    adjusted_low_confidence = "confidence below the adjusted minimum"
    adjustment_min_stake = "adjustment: scaled stake below the exchange minimum"
    error = "error"  # the strategy's own failure: fail closed
