"""Verdict markers for ``freqtrade plot-dataframe`` after a backtest.

A backtest files every verdict in the audit trail of its bot (``backtest`` unless the config's
``context.bot_id`` says otherwise), at the decision's point in time, after wiping the previous
run's memory. ``plot-dataframe`` does not run the strategy's loop, so it has no verdicts of its
own: :func:`backtest_marks` reads the last run's verdicts back from that trail, by pair and
candle, for the strategy's ``Verdicts`` subplot.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from context_service.client.options import read_options
from context_service.contract import Verdict
from context_service.keys import Keyspace
from context_service.settings import Settings

logger = logging.getLogger(__name__)

MAX_VERDICTS = 200_000  # a 2-year hourly backtest of 5 pairs files about 10k


def backtest_marks(config: dict[str, Any], settings: Settings) -> dict[str, dict[int, Verdict]]:
    """pair -> {candle epoch: verdict} of the last backtest; empty when there is none."""
    from context_service.memory.audit import AuditTrail
    from context_service.memory.connection import connect

    options = read_options(config)
    bot_id = options.bot_id or settings.backtest_bot_id
    redis = connect(settings)
    trail = AuditTrail(redis, Keyspace(prefix=options.key_prefix).bot(bot_id))
    marks: dict[str, dict[int, Verdict]] = {}
    skipped = 0
    for entry in trail.query(kind="verdict", limit=MAX_VERDICTS):
        try:
            verdict = Verdict.model_validate(entry.payload["verdict"])
        except (KeyError, TypeError, ValidationError):
            skipped += 1  # an unreadable entry costs its marker, not the plot
            continue
        marks.setdefault(verdict.pair, {})[int(verdict.candle_time.timestamp())] = verdict
    count = sum(len(v) for v in marks.values())
    logger.info("verdict markers: %d verdicts of bot %r from its audit trail", count, bot_id)
    if skipped:
        logger.warning("verdict markers: %d unreadable audit entries skipped", skipped)
    return marks


def load_backtest_marks(state: Any, config: dict[str, Any], settings: Settings) -> int:
    """Put the last backtest's verdicts into the strategy's state (its ``mark``); the count."""
    count = 0
    for pair, marks in backtest_marks(config, settings).items():
        for epoch, verdict in marks.items():
            state.mark(pair, epoch, verdict)
            count += 1
    return count
