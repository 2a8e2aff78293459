"""Deterministic risk rules of the strategy: pure functions and small ledgers, no I/O.

They always have the last word over a verdict: a ``buy`` can only pass through them.
"""

from context_service.risk.budget import BudgetDecision, BudgetGuard, BudgetLimits, Position
from context_service.risk.daily import DailyLimits, DailyRiskLedger, GateDecision

__all__ = [
    "BudgetDecision",
    "BudgetGuard",
    "BudgetLimits",
    "DailyLimits",
    "DailyRiskLedger",
    "GateDecision",
    "Position",
]
