"""LLM parameter suggestions: always recorded, applied only when enabled and within bounds."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from context_service.keys import Keyspace
from context_service.llm.tools import AdjustmentArgs
from context_service.redis_text import as_text
from context_service.settings import Settings

KEEP_SUGGESTIONS = 500


class AdjustmentBook:
    """Records suggestions (``BotKeys.suggestions``) and applied values (``.adjustments``)."""

    def __init__(self, redis_client: redis.Redis, keyspace: Keyspace, settings: Settings) -> None:
        self.redis = redis_client
        self.keyspace = keyspace
        self.settings = settings

    def judge(self, suggestion: AdjustmentArgs) -> tuple[bool, str]:
        """Whether a suggestion may be applied, and why (not)."""
        if not self.settings.allow_adjustments:
            return False, "adjustments are disabled (CTX_ALLOW_ADJUSTMENTS)"
        bounds = self.settings.adjustment_bounds.get(suggestion.parameter)
        if bounds is None:
            return False, f"parameter {suggestion.parameter!r} is not adjustable"
        low, high = bounds
        if not low <= suggestion.value <= high:
            return False, f"value {suggestion.value:g} outside bounds [{low:g}, {high:g}]"
        return True, "within bounds"

    def record(
        self, bot_id: str, verdict_id: str, suggestion: AdjustmentArgs, at: datetime
    ) -> dict[str, Any]:
        applied, why = self.judge(suggestion)
        entry = {
            **suggestion.model_dump(),
            "verdict_id": verdict_id,
            "at": at.isoformat(),
            "applied": applied,
            "why": why,
        }
        keys = self.keyspace.bot(bot_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(keys.suggestions, json.dumps(entry))
        pipe.ltrim(keys.suggestions, 0, KEEP_SUGGESTIONS - 1)
        if applied:
            pipe.hset(keys.adjustments, suggestion.parameter, repr(suggestion.value))
        pipe.execute()
        return entry

    def suggestions(self, bot_id: str, limit: int = 50) -> list[dict[str, Any]]:
        raw = self.redis.lrange(self.keyspace.bot(bot_id).suggestions, 0, limit - 1)
        return [json.loads(as_text(item)) for item in raw]

    def applied(self, bot_id: str) -> dict[str, float]:
        raw = self.redis.hgetall(self.keyspace.bot(bot_id).adjustments)
        return {as_text(k): float(as_text(v)) for k, v in raw.items()}
