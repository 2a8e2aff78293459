"""What the strategy tells the user through Freqtrade's own RPC (``self.dp.send_msg``).

Messages go wherever the bot's config sends Freqtrade's strategy messages: its Telegram chat, its
webhook (``webhook.strategy_msg``), FreqUI. Freqtrade delivers them only in dry-run and live, and
by default once per candle for identical text; each message starts with the bot id so several
bots can share one chat.

* every verdict the bot receives (pair, candle, action, confidence, provider, fallbacks);
* refusals of note: the ones an operator must act on (sidecar unreachable, lease lost, daily
  limits, budget, errors), not the routine ``verdict hold`` or ``confidence below minimum``;
* LLM cost cap and breaker events, as the verdicts reveal them (their fallback reasons);
* the kill switch and other blocks of the strategy itself. ``fleet pause`` is Freqtrade's
  ``stopentry``, which Freqtrade announces on its own ("Status: paused").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from context_service.contract import Verdict
from context_service.risk.refusals import Refusal

logger = logging.getLogger(__name__)

MAX_MESSAGE = 1000  # Telegram takes 4096; a message is a line, not a report
# Refusals an operator must act on; the others are the strategy working as designed.
NOTABLE_REFUSALS = frozenset(
    {
        Refusal.engine_unavailable,
        Refusal.lease_not_held,
        Refusal.daily_trade_limit,
        Refusal.daily_loss_limit,
        Refusal.budget,
        Refusal.pair_cap,
        Refusal.no_room,
        Refusal.blocked,
        Refusal.error,
    }
)
# Fallback reasons of a verdict that mean a guardrail of the sidecar stepped in.
GUARDRAIL_EVENTS = {
    "budget_exhausted": "LLM cost cap reached: verdicts come from the rules until the period ends",
    "breaker_open": "LLM circuit breaker open: verdicts come from the rules for now",
}

Send = Callable[[str], None]


class BotNotifier:
    """Formats the strategy's events and hands them to Freqtrade's ``send_msg``."""

    def __init__(self, send: Send, bot_id: str) -> None:
        self._send = send
        self.bot_id = bot_id

    def _emit(self, text: str) -> None:
        line = " ".join(f"[{self.bot_id}] {text}".split())  # one line, no control characters
        try:
            self._send(line[:MAX_MESSAGE])
        except Exception as exc:  # a notification must never disturb trading
            logger.warning("strategy message not sent: %s", exc)

    def verdict(self, verdict: Verdict) -> None:
        text = (
            f"verdict {verdict.action} on {verdict.pair} ({verdict.candidate}, candle "
            f"{verdict.candle_time:%Y-%m-%d %H:%M}Z): confidence {verdict.confidence:.2f}, "
            f"from {verdict.source}"
        )
        if verdict.fallback_reason:
            text += f" (fallbacks: {verdict.fallback_reason})"
        self._emit(text)
        for code, message in GUARDRAIL_EVENTS.items():
            if code in (verdict.fallback_reason or ""):
                self._emit(message)

    def refusal(self, pair: str, reason: str, detail: str | None = None) -> None:
        if reason in NOTABLE_REFUSALS:
            self._emit(f"entry refused on {pair}: {detail or reason}")

    def event(self, text: str) -> None:
        """Something that changes what the bot may do (lease, block, kill switch)."""
        self._emit(text)


def attach_notifier(ctx: Any, dp: Any) -> None:
    """Give a dry-run/live context a notifier on Freqtrade's ``dp.send_msg`` (Freqtrade sets
    ``dp`` before ``bot_start``; a strategy built without one, as in unit tests, sends nothing)."""
    if dp is not None:
        ctx.attach_notifier(BotNotifier(dp.send_msg, ctx.bot_id))
