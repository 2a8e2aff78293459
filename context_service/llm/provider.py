"""The ``llm`` verdict provider: guardrails first, then one function-calling request.

Order of checks, each of which falls through to the next provider with a recorded reason: price
known -> circuit breaker closed -> rate limits -> prompt fits the context window -> budget
reserved (worst case: the prompt bound plus the whole completion limit, reasoning allowance
included; a free local model reserves nothing) -> call -> valid ``submit_verdict`` answer (a
tool call, or JSON content in a JSON mode). Cached prompt tokens cost the cached rate. The
request is shaped by the model's capabilities (``llm/request_shape.py``); with masking on, the
model sees masked context and cites masked ids, mapped back here. Every HTTP attempt is reserved
(an upper bound of what it can be billed, ``llm/bound.py``) and settled: with the real usage
when the endpoint reports it, else with the worst case, so the ledger never under-counts. Usage
that cannot be true (negative, absurd) is refused as a provider error (``bad_usage``) and
charged the whole reservation.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from context_service.contract import Decision, VerdictRequest
from context_service.engine.tokens import TokenCounter
from context_service.llm.bound import PromptBound, prompt_bound, usage_problem
from context_service.llm.breaker import CircuitBreaker
from context_service.llm.client import LLMCallError, LLMClient, LLMResponse
from context_service.llm.ledger import BudgetExhausted, CostLedger, Reservation
from context_service.llm.masking import Masker
from context_service.llm.params import replay_params as build_replay_params
from context_service.llm.pricing import ModelPrice, UnknownModelPrice, price_for
from context_service.llm.prompt import build_messages
from context_service.llm.ratelimit import RateLimiter
from context_service.llm.request_shape import response_format
from context_service.llm.tools import (
    ToolCallError,
    map_suggestion_pairs,
    parse_answer,
    tools_for,
)
from context_service.llm.usage import UsageRecorder
from context_service.settings import Settings


class LLMFailure(RuntimeError):
    """The LLM provider could not give a verdict; ``reason`` is recorded on the verdict."""

    def __init__(self, reason: str, message: str, audit: dict[str, Any] | None = None) -> None:
        self.reason = reason
        self.audit = audit or {}
        super().__init__(message)


def _visible(known_ids: set[str], masker: Masker | None) -> set[str]:
    """The evidence ids as the model saw them."""
    return known_ids if masker is None else {masker.mask_id(i) for i in known_ids}


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
        shape = self.client.shape
        suggestions = self.settings.apply_adjustments and shape.output_mode == "tools"
        tools = tools_for(suggestions)
        masker = Masker(request) if self.settings.llm_masking else None
        messages = build_messages(request, context_text, shape.output_mode, suggestions, masker)
        # In a JSON mode the response schema is sent instead of tools: bounded the same way.
        sent = tools if shape.output_mode == "tools" else [response_format(shape.output_mode)]
        bound = prompt_bound(self.counter, messages, sent)
        max_completion = self.client.completion_limit
        window = shape.capabilities.context_window
        if bound.tokens + max_completion > window:
            raise LLMFailure(
                "context_too_long",
                f"prompt (up to {bound.tokens} tokens) plus completion limit {max_completion} "
                f"exceed {self.client.model}'s context window of {window} tokens",
            )
        worst_case = price.cost_micros(bound.tokens, max_completion)
        audit: dict[str, Any] = {
            "prompt": messages,
            "estimated_prompt_tokens": bound.tokens,
            "prompt_bound_method": bound.method,
            "reserved_usd": worst_case / 1e6,
            **self.replay_params(),
        }
        response, cost, used_prompt, used_completion = self._call(
            bot, at, messages, tools, bound, price, worst_case, audit
        )
        audit.update(
            tool_calls=[{"name": c.name, "arguments": c.arguments} for c in response.tool_calls],
            content=response.content,
            finish_reason=response.finish_reason,
            usage=response.raw_usage or {"estimated": True},
            cached_prompt_tokens=response.cached_prompt_tokens,
            reasoning_tokens=response.reasoning_tokens,
            cost_usd=cost / 1e6,
            latency_ms=round(response.latency_ms, 3),
            attempts=response.attempts,
        )
        calls = response.tool_calls
        if masker is not None:  # a pause names a masked pair: the real one is recorded
            calls = map_suggestion_pairs(calls, masker.original_pair)
        try:
            answer = parse_answer(calls, _visible(known_ids, masker))
        except ToolCallError as exc:
            self._failed(
                bot, at, exc.reason, cost, used_prompt, used_completion, response.latency_ms
            )
            raise LLMFailure(exc.reason, str(exc), audit) from None
        if masker is not None:  # the model cited masked ids: map them back
            ids = answer.verdict.evidence_ids
            answer.verdict.evidence_ids = [masker.original_id(i) for i in ids]
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
        if answer.rejected_adjustments:
            audit["rejected_adjustments"] = [r.as_dict() for r in answer.rejected_adjustments]
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

    def _call(
        self,
        bot: str,
        at: datetime,
        messages: list[dict[str, str]],
        tools: list[dict[str, Any]],
        bound: PromptBound,
        price: ModelPrice,
        worst_case: int,
        audit: dict[str, Any],
    ) -> tuple[LLMResponse, int, int, int]:
        """The HTTP attempts, each reserved before it is sent and settled after it: a retried
        timeout is charged per request sent. Returns the response, its cost and its usage. A
        free model (a local server) reserves nothing: the money caps never hold it back, while
        the rate limits and the breaker still apply."""
        started = time.perf_counter()
        hold_s = self.settings.llm_timeout_s + self.settings.ledger_reservation_grace_s
        attempt = charged_total = charged_prompt = 0
        while True:
            attempt += 1
            reservation = None
            if not price.is_free:
                try:
                    reservation = self.ledger.reserve(bot, worst_case, at, hold_s=hold_s)
                except BudgetExhausted as exc:
                    reason = "cap_closed" if exc.closed else "budget_exhausted"
                    raise LLMFailure(reason, str(exc), audit) from None
            try:
                response = self.client.attempt(messages, tools, attempt, started)
            except LLMCallError as exc:
                elapsed_ms = (time.perf_counter() - started) * 1000
                # Errors before a response are not billed, except a timeout, which may have been.
                charged = price.cost_micros(bound.tokens, 0) if exc.reason == "timeout" else 0
                if reservation is not None:
                    self.ledger.settle(reservation, charged)
                charged_total += charged
                charged_prompt += bound.tokens if charged else 0
                if self.client.should_retry(exc, attempt):
                    self.client.wait_before_retry(attempt)
                    continue
                # One failed call for usage and the breaker, however many attempts it took.
                self._failed(bot, at, exc.reason, charged_total, charged_prompt, 0, elapsed_ms)
                audit.update(
                    error=str(exc),
                    latency_ms=round(elapsed_ms, 3),
                    attempts=attempt,
                    cost_usd=charged_total / 1e6,
                )
                raise LLMFailure(exc.reason, str(exc), audit) from None
            response, cost, prompt, completion = self._settle_usage(
                bot, at, reservation, response, bound, price, audit
            )
            # Earlier attempts that timed out were charged too: the call's cost includes them.
            return response, cost + charged_total, prompt, completion

    def _settle_usage(
        self,
        bot: str,
        at: datetime,
        reservation: Reservation | None,
        response: LLMResponse,
        bound: PromptBound,
        price: ModelPrice,
        audit: dict[str, Any],
    ) -> tuple[LLMResponse, int, int, int]:
        """Charge the reported usage (the worst case when none is reported); refuse usage that
        cannot be true (negative, absurd, not a number) as a provider error."""
        max_completion = self.client.completion_limit
        prompt, completion = response.prompt_tokens, response.completion_tokens
        cached = response.cached_prompt_tokens
        if prompt is None or completion is None:
            prompt, completion, cached = bound.tokens, max_completion, 0
        problem = (
            "usage is not a whole number"
            if not all(type(v) is int for v in (prompt, completion))
            else usage_problem(prompt, completion, bound, max_completion)
        )
        if problem is not None:
            # What the endpoint will bill is unknown: charge the whole reservation, and when it
            # claims far more than could have been sent, stop calling it (caps closed, alert).
            charged = reservation.amount_micros if reservation is not None else 0
            if reservation is not None:
                self.ledger.settle(reservation, charged)
                if problem.startswith("absurd"):
                    self.ledger.close(reservation, problem)
            self._failed(bot, at, "bad_usage", charged, 0, 0, response.latency_ms)
            audit.update(error=problem, usage=response.raw_usage, cost_usd=charged / 1e6)
            raise LLMFailure("bad_usage", problem, audit)
        cost = price.cost_micros(prompt, completion, cached)
        if reservation is None:
            return response, cost, prompt, completion
        settlement = self.ledger.settle(reservation, cost)
        if settlement.over_reported:
            audit["over_reported"] = {
                "reserved_usd": reservation.amount_micros / 1e6,
                "charged_usd": cost / 1e6,
            }
        return response, cost, prompt, completion

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
