"""The in-process engine of backtests and hyperopt: built from the strategy's options, on a
memory that starts empty (an earlier run's trades would be future data)."""

from __future__ import annotations

import logging

from context_service.client.base import ContextClient
from context_service.client.options import ConfigProblem, StrategyOptions
from context_service.keys import Keyspace
from context_service.redis_text import as_text
from context_service.settings import Settings

logger = logging.getLogger(__name__)

BACKTEST_ID_PREFIX = "backtest"


def in_process_client(
    settings: Settings,
    options: StrategyOptions,
    bot_id: str,
    *,
    hyperopt: bool = False,
    wipe: bool = True,
) -> ContextClient:
    """The engine in this process (backtests, hyperopt, evaluate): the configured provider
    chain (never the paid LLM in hyperopt) on a fresh backtest memory."""
    from context_service.client.inprocess import InProcessContextClient
    from context_service.contract import VerdictSource
    from context_service.memory.connection import connect
    from context_service.service import ContextService
    from context_service.verdicts.chain import chain_from

    if options.provider:
        settings = settings.model_copy(update={"verdict_provider": options.provider})
    if hyperopt and settings.verdict_provider == "llm":
        # Hundreds of epochs over the same candles: never the paid LLM. The rules give the
        # same answers every epoch; replay (cached dry-run verdicts) is kept when asked for.
        logger.warning("hyperopt: verdict provider 'llm' replaced by the in-process rules")
        settings = settings.model_copy(update={"verdict_provider": "rules"})
    try:
        chain = chain_from(settings.verdict_provider)
    except ValueError as exc:
        raise ConfigProblem(f"context.provider / CTX_VERDICT_PROVIDER: {exc}") from None
    record = settings.backtest_memory if options.record_memory is None else options.record_memory
    if hyperopt:
        record = False  # parallel hyperopt workers would wipe each other's backtest memory
    redis = connect(settings)
    keyspace = Keyspace(prefix=options.key_prefix)
    if (record or hyperopt) and wipe:  # hyperopt: its audit trail starts empty each run
        wipe_backtest_memory(redis, keyspace, bot_id)
    elif wipe and bot_id.startswith(BACKTEST_ID_PREFIX):
        # An earlier run's LLM adjustments are no past of this run, memory kept or not.
        keys = keyspace.bot(bot_id)
        redis.delete(keys.adjustments, keys.suggestions)
    llm = None
    if not hyperopt and VerdictSource.llm in chain and settings.llm_enabled:
        from context_service.llm.client import LLMClient

        llm = LLMClient.from_settings(settings)
    service = ContextService(settings, redis, keyspace=keyspace, llm=llm, evidence_store="memory")
    return InProcessContextClient(service, record_memory=record)


def wipe_backtest_memory(redis, keyspace: Keyspace, bot_id: str) -> int:
    """A backtest starts from an empty memory: an earlier run's trades would be future data.

    The replay cache is kept: verdicts imported for replay (``verdicts import --bot backtest``)
    are keyed by everything that shaped them, so they cannot leak anything.
    """
    if not bot_id.startswith(BACKTEST_ID_PREFIX):
        raise ConfigProblem(
            f"in-process runs write trade memory under their own bot id; {bot_id!r} must start "
            f"with {BACKTEST_ID_PREFIX!r} so a backtest never touches a live bot's memory"
        )
    bot_keys = keyspace.bot(bot_id)
    keep = {bot_keys.verdict_cache}
    keys = [
        k for k in redis.scan_iter(match=bot_keys.pattern, count=1000) if as_text(k) not in keep
    ]
    if keys:
        redis.delete(*keys)
    return len(keys)
