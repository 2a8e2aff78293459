"""A thin, synchronous chat-completions client on the official ``openai`` SDK.

Any OpenAI-compatible endpoint works (OpenAI, a LiteLLM proxy, vLLM, Ollama, llama.cpp's server,
LM Studio): set ``CTX_LLM_BASE_URL``. Each request is shaped by the model's capabilities
(completion-limit parameter, temperature, reasoning effort, tools or json_schema output). The
SDK's own retries are off; this client retries once (configurable) with a short exponential
backoff, and only on errors worth retrying (timeouts, connection errors, 429, 5xx). Every
failure surfaces as :class:`LLMCallError` with a short ``reason`` code that the verdict records
as its fallback reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from context_service.llm.request_shape import JSON_MODES, Sampling, request_kwargs, sampling_for
from context_service.llm.tools import SUBMIT_VERDICT, ToolCall
from context_service.settings import Settings

RETRYABLE = {"timeout", "connection_error", "http_429", "http_5xx"}


class LLMCallError(RuntimeError):
    """A failed call; ``reason`` is one of timeout, connection_error, http_429, http_5xx,
    http_4xx, bad_response."""

    def __init__(self, reason: str, message: str, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(message)


@dataclass(slots=True)
class LLMResponse:
    """What a successful call returned (tool calls not yet validated)."""

    model: str
    tool_calls: list[ToolCall]
    content: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float
    attempts: int
    finish_reason: str | None = None
    raw_usage: dict[str, Any] = field(default_factory=dict)
    cached_prompt_tokens: int = 0  # prompt tokens served from the provider's prefix cache
    reasoning_tokens: int = 0  # hidden reasoning, already included in completion_tokens


def classify(exc: Exception) -> LLMCallError:
    """Map an SDK exception to a recorded reason."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return LLMCallError("timeout", "LLM request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return LLMCallError("connection_error", f"cannot reach the LLM endpoint: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return LLMCallError("http_429", "LLM rate limited (429)", status)
        if status >= 500:
            return LLMCallError("http_5xx", f"LLM server error ({status})", status)
        return LLMCallError("http_4xx", f"LLM rejected the request ({status})", status)
    if isinstance(exc, openai.APIResponseValidationError | ValueError | KeyError):
        return LLMCallError("bad_response", f"unusable LLM response: {exc}")
    raise exc


class LLMClient:
    """Chat completions shaped for the model (see request_shape.py), one retry with backoff,
    and honest error reasons."""

    def __init__(
        self,
        sampling: Sampling,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 8.0,
        max_retries: int = 1,
        backoff_s: float = 0.25,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.shape = sampling
        self.model = sampling.model
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        # Imported here: the SDK takes most of a second to import, and a rules-only process
        # (a backtest, a sidecar with the LLM off) never needs it.
        import openai

        # A plain httpx client: the SDK accepts it, and tests can mock it with respx.
        self._http = http_client or httpx.Client(timeout=timeout_s)
        self._sdk = openai.OpenAI(
            api_key=api_key or "not-needed",  # local servers (Ollama, vLLM) take no key
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
            http_client=self._http,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient:
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            sampling_for(settings),
            base_url=settings.llm_base_url,
            api_key=key,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
        )

    @property
    def completion_limit(self) -> int:
        """Most completion tokens one call can bill (answer plus reasoning allowance)."""
        return self.shape.completion_limit

    @property
    def sampling(self) -> dict[str, Any]:
        """Everything besides the prompt that shapes an answer (part of the replay key)."""
        return self.shape.replay_fields()

    def close(self) -> None:
        self._http.close()

    def complete(self, messages: list[dict[str, str]], tools: list[dict[str, Any]]) -> LLMResponse:
        """One chat completion that must answer with a verdict (a tool call, or JSON content
        in a JSON mode); retried once on transient errors. Raises :class:`LLMCallError`. (The
        verdict provider drives the attempts itself with :meth:`attempt`, reserving and settling
        each one.)"""
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.attempt(messages, tools, attempt, started)
            except LLMCallError as error:
                if not self.should_retry(error, attempt):
                    raise
            self.wait_before_retry(attempt)

    def attempt(
        self,
        messages: list[dict[str, str]],
        tools: list[dict[str, Any]],
        number: int = 1,
        started: float | None = None,
    ) -> LLMResponse:
        """Exactly one HTTP request (attempt ``number``). Raises :class:`LLMCallError`."""
        import openai

        started = time.perf_counter() if started is None else started
        try:
            completion = self._sdk.chat.completions.create(
                **request_kwargs(self.shape, messages, tools)
            )
        except openai.OpenAIError as exc:
            raise classify(exc) from None
        return self._response(completion, started, number)

    def should_retry(self, error: LLMCallError, attempt: int) -> bool:
        return error.reason in RETRYABLE and attempt <= self.max_retries

    def wait_before_retry(self, attempt: int) -> None:
        time.sleep(self.backoff_s * (2 ** (attempt - 1)))

    def _response(self, completion: Any, started: float, attempts: int) -> LLMResponse:
        if not getattr(completion, "choices", None):
            raise LLMCallError("bad_response", "LLM response has no choices")
        choice = completion.choices[0]
        message = choice.message
        calls = [
            ToolCall(name=c.function.name, arguments=c.function.arguments)
            for c in (message.tool_calls or [])
            if getattr(c, "function", None) is not None
        ]
        if self.shape.output_mode in JSON_MODES and message.content is not None:
            # The content is the verdict's arguments: parsed exactly like the tool call's.
            calls = [ToolCall(name=SUBMIT_VERDICT, arguments=message.content)]
        usage = completion.usage
        return LLMResponse(
            model=completion.model or self.model,
            tool_calls=calls,
            content=message.content,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
            finish_reason=choice.finish_reason,
            raw_usage=usage.model_dump(warnings=False) if usage else {},
            cached_prompt_tokens=_detail(usage, "prompt_tokens_details", "cached_tokens"),
            reasoning_tokens=_detail(usage, "completion_tokens_details", "reasoning_tokens"),
        )


def _detail(usage: Any, group: str, name: str) -> int:
    """A usage detail count (0 when the endpoint does not report it, or reports nonsense)."""
    value = getattr(getattr(usage, group, None), name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
