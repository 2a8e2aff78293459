"""A chain's outcome becomes a :class:`Verdict`, then goes to the audit trail, the replay
cache, the bot's recent verdicts, the usage counters and the metrics.

Nothing here knows a provider by name: what to keep comes from the decision (``replayable``,
``cost_usd``, ``audit``) and from the providers' class attributes (``metered``,
``spends_money``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from context_service.contract import Verdict
from context_service.engine import Manifest
from context_service.verdicts.provider import Ask, deterministic_verdict_id
from context_service.verdicts.runner import Outcome

log = logging.getLogger("context_service.verdicts")

RECENT_VERDICTS = 200


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    """What the audit trail keeps of a synthesis: its identity, size and included ids."""
    return {
        "manifest_id": manifest.manifest_id,
        "content_hash": manifest.content_hash,
        "total_tokens": manifest.total_tokens,
        "budget": manifest.budget,
        "included": manifest.included_ids(),
    }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def make_verdict(ask: Ask, outcome: Outcome, latency_ms: float) -> Verdict:
    """The verdict of ``outcome``; its id is the provider's, or derived from the question and
    the answer (the same question answered the same way keeps its id)."""
    manifest = ask.synthesis.manifest
    request = ask.request
    d = outcome.decision
    source = outcome.provider.name
    verdict_id = d.verdict_id or deterministic_verdict_id(
        request.bot_id,
        request.pair,
        request.candle_time.isoformat(),
        request.candidate,
        manifest.content_hash,
        source,
        d.action.value,
    )
    return Verdict(
        verdict_id=verdict_id,
        bot_id=request.bot_id,
        pair=request.pair,
        candle_time=request.candle_time,
        candidate=request.candidate,
        action=d.action,
        confidence=d.confidence,
        rationale=d.rationale[:2000],
        evidence_ids=d.evidence_ids,
        source=source,
        fallback_reason="; ".join(map(str, outcome.fallbacks)) or None,
        context_hash=manifest.content_hash,
        manifest_id=manifest.manifest_id,
        context_tokens=manifest.total_tokens,
        context_encoding=manifest.encoding,
        model=d.model,
        prompt_tokens=d.prompt_tokens,
        completion_tokens=d.completion_tokens,
        cost_usd=d.cost_usd,
        latency_ms=round(latency_ms, 3),
        created_at=ask.now,
        strategy_version=request.strategy_version,
        config_hash=request.config_hash,
    )


class VerdictRecorder:
    """Keeps what a verdict leaves behind; built from the service's components."""

    def __init__(self, components: Any) -> None:
        self.redis = components.redis
        self.keyspace = components.keyspace
        self.memory = components.memory
        self.replay = components.replay
        self.usage = components.usage
        self.metrics = components.metrics

    def record(self, ask: Ask, verdict: Verdict, outcome: Outcome) -> None:
        bot_id = verdict.bot_id
        audit: dict[str, Any] = {
            "verdict": verdict.model_dump(mode="json"),
            "chain": outcome.names,
            "fallbacks": [str(f) for f in outcome.fallbacks],
            "as_of": iso(ask.request.as_of),
            # What the bot saw, whatever the provider: live evidence may expire before anyone
            # asks.
            "manifest": manifest_summary(ask.synthesis.manifest),
        }
        if outcome.audits:
            audit["providers"] = outcome.audits
        bot = self.memory.bot(bot_id)
        keys = self.keyspace.bot(bot_id)
        # One round trip: the audit entry, the recent-verdicts list and the usage counters.
        pipe = self.redis.pipeline(transaction=False)
        # Filed at the decision's point in time: a backtest's audit answers "what did the bot see
        # at 14:05 on 3 May" for the candle, not for the moment the backtest ran.
        queued = bot.audit.append_in(pipe, "verdict", audit, at=ask.request.as_of or ask.now)
        pipe.lpush(keys.last_verdicts, verdict.model_dump_json())
        pipe.ltrim(keys.last_verdicts, 0, RECENT_VERDICTS - 1)
        if any(p.metered for p in outcome.chain):
            paid = [f.reason for f in outcome.fallbacks if f.spends_money]
            self.usage.record_verdict(bot_id, ask.now, verdict.source, paid, pipe)
        queued.settle(pipe.execute(raise_on_error=False))
        if outcome.decision.replayable:
            # The decision only: the adjustments in force belong to the moment, not the answer.
            decided = verdict.model_copy(update={"adjustments": None})
            self.replay.put(bot_id, ask.replay_key, decided)
        if verdict.cost_usd > 0:
            bot.record_llm_cost(ask.now, verdict.cost_usd, verdict.verdict_id)
        self.metrics.verdicts.labels(verdict.source, verdict.action.value).inc()
        self.metrics.verdict_latency.labels(verdict.source).observe(verdict.latency_ms / 1000)

    def recent(self, bot_id: str, limit: int = 50) -> list[Verdict]:
        """The bot's latest verdicts, newest first; an unreadable entry (written by another
        version) is skipped, never allowed to hide the others."""
        raw = self.redis.lrange(self.keyspace.bot(bot_id).last_verdicts, 0, limit - 1)
        verdicts = []
        for item in raw:
            try:
                verdicts.append(Verdict.model_validate_json(item))
            except ValueError:
                log.warning("skipping an unreadable recent verdict of bot %s", bot_id)
        return verdicts
