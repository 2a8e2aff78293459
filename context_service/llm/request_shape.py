"""The parameters of one chat-completions request, built from the model's capabilities.

One definition for the live client and for the replay key of a replay-only run, so both agree
on what shaped an answer. Two answer modes:

* ``tools``: the verdict comes as a ``submit_verdict`` function call (``tool_choice`` required);
* ``json_schema``: for servers without tool calling, the verdict is the message content under
  ``response_format`` ``json_schema`` (strict) with the same schema as the tool's arguments;
* ``json_object``: the same with ``response_format: {type: json_object, schema: ...}``, the
  dialect of llama-cpp-python's server (which has no ``json_schema`` type; llama.cpp's own
  server takes both).

In both JSON modes the content is validated exactly like the tool call's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from context_service.llm.capabilities import ModelCapabilities, ReasoningEffort, lookup
from context_service.llm.tools import SUBMIT_VERDICT, verdict_schema
from context_service.settings import Settings

OutputMode = Literal["tools", "json_schema", "json_object"]
JSON_MODES = ("json_schema", "json_object")


@dataclass(frozen=True, slots=True)
class Sampling:
    """Everything besides the prompt that shapes an answer (and the replay key)."""

    model: str
    capabilities: ModelCapabilities
    output_mode: OutputMode
    temperature: float | None  # None: the model takes only its default
    max_output_tokens: int  # the visible answer
    reasoning_tokens: int  # the allowance for hidden reasoning (0 for non-reasoning models)
    reasoning_effort: ReasoningEffort | None
    masking: bool = False

    @property
    def completion_limit(self) -> int:
        """The completion-token limit sent: answer plus reasoning allowance. Reasoning tokens
        are billed as completion tokens, so the worst case reserved is this many."""
        return self.max_output_tokens + self.reasoning_tokens

    def replay_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.completion_limit,
        }
        if self.reasoning_effort is not None:
            fields["reasoning_effort"] = self.reasoning_effort
        if self.output_mode != "tools":
            fields["output_mode"] = self.output_mode
        if self.masking:
            fields["masking"] = True
        return fields


def sampling_for(settings: Settings) -> Sampling:
    """The sampling of the configured model."""
    caps = lookup(settings.llm_model, settings.llm_capabilities)
    mode: OutputMode
    if settings.llm_output_mode == "auto":
        mode = "tools" if caps.tool_calling else "json_schema"
    else:
        mode = settings.llm_output_mode
    effort = caps.effort(settings.llm_reasoning_effort)
    return Sampling(
        model=settings.llm_model,
        capabilities=caps,
        output_mode=mode,
        temperature=settings.llm_temperature if caps.temperature else None,
        max_output_tokens=settings.llm_max_output_tokens,
        reasoning_tokens=settings.llm_reasoning_tokens if caps.reasoning else 0,
        reasoning_effort=effort,
        masking=settings.llm_masking,
    )


def response_format(mode: OutputMode = "json_schema") -> dict[str, Any]:
    """``response_format`` of a JSON mode: the verdict tool's arguments as the schema."""
    if mode == "json_object":
        return {"type": "json_object", "schema": verdict_schema()}
    return {
        "type": "json_schema",
        "json_schema": {"name": SUBMIT_VERDICT, "strict": True, "schema": verdict_schema()},
    }


def request_kwargs(
    sampling: Sampling, messages: list[dict[str, str]], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    """Keyword arguments of ``chat.completions.create`` for this model and mode."""
    kwargs: dict[str, Any] = {"model": sampling.model, "messages": messages}
    kwargs[sampling.capabilities.completion_limit] = sampling.completion_limit
    if sampling.temperature is not None:
        kwargs["temperature"] = sampling.temperature
    if sampling.reasoning_effort is not None:
        kwargs["reasoning_effort"] = sampling.reasoning_effort
    if sampling.output_mode == "tools":
        kwargs["tools"] = tools
        kwargs["tool_choice"] = "required"
    else:
        kwargs["response_format"] = response_format(sampling.output_mode)
    return kwargs
