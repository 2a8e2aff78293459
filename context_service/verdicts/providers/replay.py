"""``replay``: the verdict recorded for the very same question, for free."""

from __future__ import annotations

from typing import Any

from context_service.verdicts.provider import (
    Ask,
    Decision,
    ProviderSkipped,
    SkipReason,
    VerdictProvider,
    register,
)
from context_service.verdicts.replay import ReplayCache


@register
class ReplayProvider(VerdictProvider):
    """Answers with a recorded verdict when everything that shaped it is unchanged (model,
    sampling, prompt and tool versions, context hash, request); skipped with ``miss``
    otherwise. Its key is hashed only when this provider is in the chain."""

    name = "replay"
    summary = "the verdict recorded for the identical question (dry-run recordings, retries)"
    needs = "Redis (the bot's replay cache)"
    fallback = "llm"
    metered = True

    def __init__(self, cache: ReplayCache) -> None:
        self.cache = cache

    @classmethod
    def build(cls, components: Any) -> ReplayProvider:
        return cls(components.replay)

    def decide(self, ask: Ask) -> Decision:
        cached = self.cache.get(ask.bot_id, ask.replay_key)
        if cached is None:
            raise ProviderSkipped(SkipReason.miss)
        return Decision(
            action=cached.action,
            confidence=cached.confidence,
            rationale=cached.rationale,
            evidence_ids=list(cached.evidence_ids),
            verdict_id=cached.verdict_id,
            model=cached.model,
            audit={"replay_key": ask.replay_key, "recorded_at": cached.created_at.isoformat()},
        )
