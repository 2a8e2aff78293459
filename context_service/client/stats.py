"""What the gating did during a run: verdicts by source, refusals by reason, tokens and cost.

The strategy owns one :class:`GatingStats`; the backtest command reads the last one registered
(the strategy runs in the same process) to print its summary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from context_service.client.adjustments import AdjustmentStats
from context_service.contract import Verdict
from context_service.risk.refusals import Refusal
from context_service.risk.regime import RegimeResponseStats


@dataclass
class GatingStats:
    bot_id: str = ""
    gating: bool = True
    budget: float | None = None  # what the budget guard enforced
    verdicts_by_source: Counter[str] = field(default_factory=Counter)
    verdicts_by_action: Counter[str] = field(default_factory=Counter)
    fallback_reasons: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    entries_confirmed: int = 0
    verdict_exits: int = 0
    unavailable: int = 0
    context_tokens: int = 0
    context_encodings: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    decide_seconds: float = 0.0
    memory_events: int = 0
    memory_failures: int = 0
    evidence: list[str] = field(default_factory=list)  # archives in context (backtests)
    contexts: int = 0  # syntheses counted below
    lane_items: Counter[str] = field(default_factory=Counter)  # included objects per lane
    contexts_with_news: int = 0
    regime: RegimeResponseStats | None = None  # None: no regime responses configured
    adjustments: AdjustmentStats = field(default_factory=AdjustmentStats)  # LLM adjustments

    @property
    def decisions(self) -> int:
        return sum(self.verdicts_by_source.values())

    def record_verdict(self, verdict: Verdict, seconds: float) -> None:
        self.verdicts_by_source[str(verdict.source)] += 1
        self.verdicts_by_action[f"{verdict.candidate}:{verdict.action}"] += 1
        if verdict.fallback_reason:
            self.fallback_reasons[verdict.fallback_reason[:80]] += 1
        self.context_tokens += verdict.context_tokens
        self.context_encodings[verdict.context_encoding or "unknown"] += 1
        self.prompt_tokens += verdict.prompt_tokens
        self.completion_tokens += verdict.completion_tokens
        self.cost_usd += verdict.cost_usd
        self.decide_seconds += seconds

    def record_context(self, synthesis: Any) -> None:
        """Count what one decision's context included, per lane (an engine listener)."""
        manifest = synthesis.manifest
        self.contexts += 1
        for lane, totals in manifest.lanes.items():
            self.lane_items[lane] += totals.included
        if any(object_id.startswith("news:") for object_id in manifest.included_ids()):
            self.contexts_with_news += 1

    def refuse(self, refusal: Refusal) -> None:
        self.refused[str(refusal)] += 1

    def as_dict(self) -> dict[str, Any]:
        decisions = self.decisions
        return {
            "bot_id": self.bot_id,
            "gating": self.gating,
            "decisions": decisions,
            "verdicts_by_source": dict(self.verdicts_by_source),
            "verdicts_by_action": dict(self.verdicts_by_action),
            "fallback_reasons": dict(self.fallback_reasons),
            "entries_confirmed": self.entries_confirmed,
            "entries_refused": dict(self.refused),
            "verdict_exits": self.verdict_exits,
            "engine_unavailable": self.unavailable,
            "context_tokens_total": self.context_tokens,
            "context_tokens_per_decision": (self.context_tokens / decisions) if decisions else 0.0,
            "context_encodings": dict(self.context_encodings),
            "llm_prompt_tokens": self.prompt_tokens,
            "llm_completion_tokens": self.completion_tokens,
            "llm_cost_usd": round(self.cost_usd, 6),
            "decide_ms_per_decision": (1000 * self.decide_seconds / decisions) if decisions else 0,
            "memory_events_written": self.memory_events,
            "memory_write_failures": self.memory_failures,
            "evidence": list(self.evidence),
            "context_items_per_decision": {
                lane: round(count / self.contexts, 2) for lane, count in self.lane_items.items()
            }
            if self.contexts
            else {},
            "decisions_with_news": self.contexts_with_news,
            "regime_responses": self.regime.as_dict() if self.regime is not None else None,
            "adjustments": self.adjustments.as_dict(),
        }


_last: GatingStats | None = None


def register(stats: GatingStats) -> GatingStats:
    """Make ``stats`` the run's stats (called by the strategy when it starts)."""
    global _last
    _last = stats
    return stats


def last_registered() -> GatingStats | None:
    return _last
