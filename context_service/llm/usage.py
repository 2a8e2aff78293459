"""LLM usage counters for ``GET /v1/llm/usage``: calls, tokens, spend, fallbacks, latency.

Counters live in one Redis hash per day and one per month (``Keyspace.ledger_usage``), with a
global field (``calls``) and a per-bot field (``calls@bot-1``) for each metric. Call latencies
are kept as capped lists per day and month, global and per bot, for percentiles.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import redis

from context_service.keys import Keyspace
from context_service.llm.ledger import day_of, month_of
from context_service.llm.pricing import micros_to_usd
from context_service.redis_text import as_text

USAGE_TTL_S = 400 * 86_400
LATENCY_SAMPLES = 5_000


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, round(q / 100 * len(sorted_values) + 0.4999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class UsageRecorder:
    """Write and report usage counters."""

    def __init__(self, redis_client: redis.Redis, keyspace: Keyspace) -> None:
        self.redis = redis_client
        self.keyspace = keyspace

    def _periods(self, at: datetime) -> tuple[str, str]:
        return day_of(at), month_of(at)

    def _incr(
        self,
        at: datetime,
        bot_id: str,
        counters: dict[str, int],
        pipe: redis.client.Pipeline | None = None,
    ) -> redis.client.Pipeline:
        pipe = pipe if pipe is not None else self.redis.pipeline(transaction=False)
        for period in self._periods(at):
            key = self.keyspace.ledger_usage(period)
            for metric, amount in counters.items():
                pipe.hincrby(key, metric, amount)
                pipe.hincrby(key, f"{metric}@{bot_id}", amount)
            pipe.expire(key, USAGE_TTL_S)
        return pipe

    def record_call(
        self,
        bot_id: str,
        at: datetime,
        *,
        ok: bool,
        prompt_tokens: int,
        completion_tokens: int,
        cost_micros: int,
        latency_ms: float,
    ) -> None:
        """Count one LLM call (successful or not) and its latency."""
        counters = {
            "calls": 1,
            "failed_calls": 0 if ok else 1,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost_micros": cost_micros,
        }
        pipe = self._incr(at, bot_id, counters)
        for period in self._periods(at):
            for key in (
                self.keyspace.ledger_latency(period),
                self.keyspace.ledger_latency(period, bot_id),
            ):
                pipe.lpush(key, round(latency_ms, 3))
                pipe.ltrim(key, 0, LATENCY_SAMPLES - 1)
                pipe.expire(key, USAGE_TTL_S)
        pipe.execute()

    def record_verdict(
        self,
        bot_id: str,
        at: datetime,
        source: str,
        reasons: list[str],
        pipe: redis.client.Pipeline | None = None,
    ) -> None:
        """Count a verdict by source and each fallback reason met on the way. With ``pipe``
        the commands join the caller's pipeline (the caller executes it)."""
        counters = {f"verdicts:{source}": 1}
        for reason in reasons:
            counters[f"fallback:{reason}"] = counters.get(f"fallback:{reason}", 0) + 1
        own = self._incr(at, bot_id, counters, pipe)
        if pipe is None:
            own.execute()

    # --- reporting -----------------------------------------------------------------------
    def report(self, at: datetime, bot_id: str | None = None) -> dict[str, Any]:
        """Usage for the day and month of ``at``: global and per bot (or one bot)."""
        day, month = self._periods(at)
        out: dict[str, Any] = {"day": day, "month": month, "global": {}, "bots": {}}
        for label, period in (("day", day), ("month", month)):
            raw = {
                as_text(k): int(v)
                for k, v in self.redis.hgetall(self.keyspace.ledger_usage(period)).items()
            }
            per_bot: dict[str, dict[str, int]] = defaultdict(dict)
            overall: dict[str, int] = {}
            for field, value in raw.items():
                metric, _, bot = field.partition("@")
                if bot:
                    per_bot[bot][metric] = value
                else:
                    overall[metric] = value
            if bot_id is None:
                out["global"][label] = self._summary(overall, period, None)
                bots = sorted(per_bot)
            else:
                bots = [bot_id]
            for bot in bots:
                entry = out["bots"].setdefault(bot, {})
                entry[label] = self._summary(per_bot.get(bot, {}), period, bot)
        if bot_id is not None:
            del out["global"]
        return out

    def _latency(self, period: str, bot_id: str | None) -> dict[str, Any]:
        key = self.keyspace.ledger_latency(period, bot_id)
        samples = sorted(float(v) for v in self.redis.lrange(key, 0, -1))
        return {
            "samples": len(samples),
            "p50_ms": percentile(samples, 50),
            "p90_ms": percentile(samples, 90),
            "p99_ms": percentile(samples, 99),
        }

    def _summary(self, metrics: dict[str, int], period: str, bot_id: str | None) -> dict[str, Any]:
        prefix_counts = lambda prefix: {  # noqa: E731
            name.removeprefix(prefix): n
            for name, n in sorted(metrics.items())
            if name.startswith(prefix)
        }
        return {
            "calls": metrics.get("calls", 0),
            "failed_calls": metrics.get("failed_calls", 0),
            "prompt_tokens": metrics.get("prompt_tokens", 0),
            "completion_tokens": metrics.get("completion_tokens", 0),
            "cost_usd": micros_to_usd(metrics.get("cost_micros", 0)),
            "verdicts_by_source": prefix_counts("verdicts:"),
            "fallbacks_by_reason": prefix_counts("fallback:"),
            "latency": self._latency(period, bot_id),
        }
