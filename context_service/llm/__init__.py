"""LLM verdicts: the openai client, tools, prompt, prices, cost ledger, rate limits, breaker."""

from context_service.llm.breaker import CircuitBreaker
from context_service.llm.client import LLMCallError, LLMClient, LLMResponse
from context_service.llm.ledger import BudgetExhausted, CostLedger, Reservation
from context_service.llm.provider import LLMDecision, LLMFailure, LLMVerdictProvider
from context_service.llm.ratelimit import RateLimiter
from context_service.llm.usage import UsageRecorder

__all__ = [
    "BudgetExhausted",
    "CircuitBreaker",
    "CostLedger",
    "LLMCallError",
    "LLMClient",
    "LLMDecision",
    "LLMFailure",
    "LLMResponse",
    "LLMVerdictProvider",
    "RateLimiter",
    "Reservation",
    "UsageRecorder",
]
