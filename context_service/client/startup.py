"""What the strategy does once at start-up (``bot_start``), outside Freqtrade's class.

On a freshly built strategy context: connect the user's Telegram/webhook, apply an operator's
explicit minimum confidence, refuse live trading unless the preflight passes, and in
dry-run/live rebuild today's risk ledger from Freqtrade's trades and take the sub-account lease.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from context_service.client.factory import StrategyContext, min_confidence_override
from context_service.client.notify import attach_notifier


def start_strategy_context(ctx: StrategyContext, *, dataprovider: Any, min_confidence: Any) -> None:
    """Start ``ctx``; ``min_confidence`` is the strategy's hyperoptable parameter.

    Raises Freqtrade's ``OperationalException`` when live trading is not safe; the context is
    then blocked too, so should Freqtrade carry on anyway every entry is refused.
    """
    from freqtrade.enums import RunMode
    from freqtrade.exceptions import OperationalException
    from freqtrade.persistence import Trade

    config, in_process = ctx.config, ctx.in_process
    if not in_process:  # verdicts and notable events to the user's Telegram/webhook
        attach_notifier(ctx, dataprovider)
    if (override := min_confidence_override(ctx.options, ctx.settings)) is not None:
        min_confidence.value = override
    if config.get("runmode") == RunMode.LIVE:
        problem = ctx.live_preflight()
        if problem:
            ctx.blocked_reason = problem
            if ctx.notifier is not None:
                ctx.notifier.event(f"live trading refused, entries blocked: {problem}")
            raise OperationalException(problem)
    if not in_process:
        ctx.rebuild_daily_ledger(Trade.get_trades_proxy())
        ctx.renew_lease_every(datetime.now(UTC), seconds=0)
    ctx.push_knowledge()
