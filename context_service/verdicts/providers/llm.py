"""``llm``: one guarded function-calling request (cost caps, rate limits, breaker).

The guardrails and the call live in :mod:`context_service.llm.provider`; this module adapts
them to the provider surface: a failure becomes a skip carrying the failed call's audit (its
prompt and error), and an answer's cost, tokens and parameter suggestions are recorded here.
"""

from __future__ import annotations

from typing import Any

from context_service.llm.adjustments import AdjustmentBook
from context_service.llm.breaker import CircuitBreaker
from context_service.llm.provider import LLMFailure, LLMVerdictProvider
from context_service.llm.ratelimit import RateLimiter
from context_service.llm.tools import AdjustmentArgs, RejectedSuggestion
from context_service.verdicts.metrics import ServiceMetrics
from context_service.verdicts.provider import (
    Ask,
    Decision,
    ProviderSkipped,
    SkipReason,
    VerdictProvider,
    deterministic_verdict_id,
    register,
)


@register
class LLMProvider(VerdictProvider):
    """Skipped with ``disabled`` when no LLM client is configured; with the guardrail's or the
    call's reason (``budget_exhausted``, ``rate_limited_bot``, ``timeout``...) otherwise."""

    name = "llm"
    summary = "an OpenAI-compatible model via function calling, under hard cost caps"
    needs = "CTX_LLM_ENABLED=true, an OpenAI-compatible endpoint and its price"
    spends_money = True
    remote = True
    fallback = "rules"
    metered = True

    def __init__(
        self,
        guarded: LLMVerdictProvider | None,
        metrics: ServiceMetrics,
        adjustments: AdjustmentBook,
    ) -> None:
        self.guarded = guarded
        self.metrics = metrics
        self.adjustments = adjustments

    @classmethod
    def build(cls, components: Any) -> LLMProvider:
        c = components
        guarded = None
        if c.llm_client is not None:
            settings = c.settings
            guarded = LLMVerdictProvider(
                settings,
                c.llm_client,
                c.ledger,
                RateLimiter(
                    c.redis,
                    c.keyspace,
                    settings.rate_bot_per_minute,
                    settings.rate_global_per_minute,
                ),
                CircuitBreaker(
                    c.redis,
                    c.keyspace,
                    settings.breaker_failures,
                    settings.breaker_open_seconds,
                    c.alerts,
                ),
                c.usage,
            )
        return cls(guarded, c.metrics, c.adjustments)

    def decide(self, ask: Ask) -> Decision:
        if self.guarded is None:
            raise ProviderSkipped(SkipReason.disabled)
        try:
            decision = self.guarded.decide(
                ask.request, ask.synthesis.text, ask.known_evidence_ids, ask.now
            )
        except LLMFailure as failure:
            raise ProviderSkipped(failure.reason, str(failure), failure.audit or None) from None
        decision.verdict_id = deterministic_verdict_id("llm", ask.replay_key, ask.now.isoformat())
        bot = ask.bot_id
        self.metrics.llm_cost.labels(bot).inc(decision.cost_usd)
        self.metrics.llm_tokens.labels(bot, "prompt").inc(decision.prompt_tokens)
        self.metrics.llm_tokens.labels(bot, "completion").inc(decision.completion_tokens)
        audit = decision.audit if decision.audit is not None else {}
        # A suggestion never changes this verdict: it is judged and recorded, and the audit
        # entry keeps each one with its fate.
        entries = self.adjustments.record(
            ask.request,
            decision.verdict_id,
            ask.now,
            [AdjustmentArgs.model_validate(s) for s in audit.get("adjustments", [])],
            [RejectedSuggestion(**r) for r in audit.pop("rejected_adjustments", [])],
        )
        if entries:
            audit["adjustments"] = entries
        for entry in entries:
            parameter = entry.get("parameter")
            self.metrics.adjustment_suggestions.labels(
                parameter if isinstance(parameter, str) else "invalid",
                "accepted" if entry["accepted"] else "rejected",
            ).inc()
        return decision

    def close(self) -> None:
        if self.guarded is not None:
            self.guarded.client.close()
