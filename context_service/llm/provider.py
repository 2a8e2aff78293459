"""The ``llm`` verdict provider: guardrails first, then one function-calling request.

Order of checks, each of which falls through to the next provider with a recorded reason:
price known -> circuit breaker closed -> rate limits -> budget reserved (worst case) -> call ->
valid ``submit_verdict`` tool call. The reservation is always settled: with the real usage when
the endpoint reports it, else with the worst case (so the ledger never under-counts).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from context_service.contract import Decision, VerdictRequest
from context_service.engine.tokens import TokenCounter
from context_service.llm.breaker import CircuitBreaker
from context_service.llm.client import LLMCallError, LLMClient
from context_service.llm.ledger import BudgetExhausted, CostLedger
from context_service.llm.params import replay_params as build_replay_params
from context_service.llm.pricing import UnknownModelPrice, price_for
from context_service.llm.prompt import build_messages
from context_service.llm.ratelimit import RateLimiter
from context_service.llm.tools import (
    TOOLS,
    TOOLS_JSON,
    ToolCallError,
    parse_answer,
)
from context_service.llm.usage import UsageRecorder
from context_service.settings import Settings

# Chat formatting overhead per message and for the reply, and a safety margin for the
# difference between the counting encoding and the model's (see engine/tokens.py).
TOKENS_PER_MESSAGE = 4
TOKENS_REPLY_PRIMING = 3
COUNT_MARGIN = 1.10


class LLMFailure(RuntimeError):
    """The LLM provider could not give a verdict; ``reason`` is recorded on the verdict."""

    def __init__(self, reason: str, message: str, audit: dict[str, Any] | None = None) -> None:
        self.reason = reason
        self.audit = audit or {}
        super().__init__(message)


def estimate_prompt_tokens(counter: TokenCounter, messages: list[dict[str, str]]) -> int:
    """Upper estimate of the prompt tokens, tool schema included."""
    exact = sum(counter.count(m["content"]) + TOKENS_PER_MESSAGE for m in messages)
    exact += counter.count(TOOLS_JSON) + TOKENS_REPLY_PRIMING
    return math.ceil(exact * COUNT_MARGIN)


class LLMVerdictProvider:
    """Ask the LLM for a verdict within the cost, rate and breaker guardrails."""

    def __init__(
        self,
        settings: Settings,
        client: LLMClient,
        ledger: CostLedger,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        usage: UsageRecorder,
    ) -> None:
        self.settings = settings
        self.client = client
        self.ledger = ledger
        self.limiter = limiter
        self.breaker = breaker
        self.usage = usage
        self.counter = TokenCounter(client.model)

    def replay_params(self) -> dict[str, Any]:
        """Everything about the call besides the context that shapes the answer."""
        return build_replay_params(**self.client.sampling)

    def decide(
        self, request: VerdictRequest, context_text: str, known_ids: set[str], at: datetime
    ) -> Decision:
        """A replayable decision with its cost and audit (prompt, tool calls, usage; the
        model's parameter suggestions under ``adjustments``), or :class:`LLMFailure`."""
        bot = request.bot_id
        try:
            price = price_for(self.settings.llm_prices, self.client.model)
        except UnknownModelPrice as exc:
            raise LLMFailure("no_price", str(exc)) from None
        if not self.breaker.allow(bot, at):
            raise LLMFailure("breaker_open", "circuit breaker is open")
        rate = self.limiter.acquire(bot, at)
        if not rate.allowed:
            raise LLMFailure(
                f"rate_limited_{rate.scope}",
                f"{rate.scope} LLM rate limit of {rate.limit}/min reached",
            )
        messages = build_messages(request, context_text)
        prompt_tokens = estimate_prompt_tokens(self.counter, messages)
        worst_case = price.cost_micros(prompt_tokens, self.client.max_output_tokens)
        audit: dict[str, Any] = {
            "prompt": messages,
            "estimated_prompt_tokens": prompt_tokens,
            "reserved_usd": worst_case / 1e6,
            **self.replay_params(),
        }
        try:
            reservation = self.ledger.reserve(bot, worst_case, at)
        except BudgetExhausted as exc:
            raise LLMFailure("budget_exhausted", str(exc), audit) from None
        started = time.perf_counter()
        try:
            response = self.client.complete(messages, TOOLS)
        except LLMCallError as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            # Errors before a response are not billed, except a timeout, which may have been.
            charged = price.cost_micros(prompt_tokens, 0) if exc.reason == "timeout" else 0
            self.ledger.settle(reservation, charged)
            self._failed(
                bot, at, exc.reason, charged, prompt_tokens if charged else 0, 0, elapsed_ms
            )
            audit.update(error=str(exc), latency_ms=round(elapsed_ms, 3), cost_usd=charged / 1e6)
            raise LLMFailure(exc.reason, str(exc), audit) from None
        usage_known = response.prompt_tokens is not None and response.completion_tokens is not None
        used_prompt = response.prompt_tokens if usage_known else prompt_tokens
        used_completion = (
            response.completion_tokens if usage_known else self.client.max_output_tokens
        )
        cost = price.cost_micros(used_prompt, used_completion)  # type: ignore[arg-type]
        self.ledger.settle(reservation, cost)
        audit.update(
            tool_calls=[{"name": c.name, "arguments": c.arguments} for c in response.tool_calls],
            content=response.content,
            finish_reason=response.finish_reason,
            usage=response.raw_usage or {"estimated": True},
            cost_usd=cost / 1e6,
            latency_ms=round(response.latency_ms, 3),
            attempts=response.attempts,
        )
        try:
            answer = parse_answer(response.tool_calls, known_ids)
        except ToolCallError as exc:
            self._failed(
                bot, at, exc.reason, cost, used_prompt, used_completion, response.latency_ms
            )
            raise LLMFailure(exc.reason, str(exc), audit) from None
        self.breaker.record_success(bot)
        self.usage.record_call(
            bot,
            at,
            ok=True,
            prompt_tokens=used_prompt,
            completion_tokens=used_completion,
            cost_micros=cost,
            latency_ms=response.latency_ms,
        )
        if answer.unknown_evidence_ids:
            audit["unknown_evidence_ids"] = answer.unknown_evidence_ids
        audit["adjustments"] = [a.model_dump() for a in answer.adjustments]
        verdict = answer.verdict
        return Decision(
            action=verdict.action,
            confidence=verdict.confidence,
            rationale=verdict.rationale,
            evidence_ids=verdict.evidence_ids,
            model=response.model,
            prompt_tokens=used_prompt,
            completion_tokens=used_completion,
            cost_usd=cost / 1e6,
            replayable=True,
            audit=audit,
        )

    def _failed(
        self,
        bot: str,
        at: datetime,
        reason: str,
        cost: int,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_ms: float = 0.0,
    ) -> None:
        self.breaker.record_failure(bot, at, reason)
        self.usage.record_call(
            bot,
            at,
            ok=False,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_micros=cost,
            latency_ms=latency_ms,
        )
