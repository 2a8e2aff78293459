"""Config overrides that let Freqtrade's bias checks run this strategy.

``lookahead-analysis`` and ``recursive-analysis`` compare signals between backtests of different
lengths. Path-dependent limits (daily entry caps, the daily loss limit) would differ between
those runs and report bias that is not there, so they are switched off. ``lookahead-analysis``
also raises the wallet to 1e9 and the stake to 10k "to avoid false positives"; Freqtrade's
``available_capital`` would still cap the wallet at the budget and block every entry, so it is
raised as well while the strategy's own budget guard keeps the budget (``context.budget``).
"""

from __future__ import annotations

from typing import Any

from context_service.client.factory import configured_budget

ANALYSIS_COMMANDS = frozenset({"lookahead-analysis", "recursive-analysis"})
ANALYSIS_WALLET = 1_000_000_000


def analysis_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """A second Freqtrade config (merged over ``config``) for an analysis run."""
    context: dict[str, Any] = {"max_entries_per_day": 0, "max_daily_loss": 0.0}
    budget = configured_budget(config)
    if budget:
        context["budget"] = budget
    return {"available_capital": ANALYSIS_WALLET, "context": context}
