"""The call parameters that shape an LLM answer besides its context: part of every replay key.

The one definition: a live LLM client (its ``sampling``) and the settings of a replay-only
backtest must give the same parameters, or recorded verdicts would never be found again. Both
come from :func:`context_service.llm.request_shape.sampling_for`.
"""

from __future__ import annotations

from typing import Any

from context_service.llm.prompt import PROMPT_TEMPLATE_VERSION
from context_service.llm.request_shape import sampling_for
from context_service.llm.tools import TOOL_SCHEMA_VERSION
from context_service.settings import Settings


def replay_params(
    model: str,
    temperature: float | None,
    max_tokens: int,
    reasoning_effort: str | None = None,
    output_mode: str | None = None,
    masking: bool = False,
) -> dict[str, Any]:
    """Model, sampling, prompt template version and tool schema version. ``temperature`` is
    None for a model that takes none; ``max_tokens`` is the completion limit sent, whatever the
    parameter's name; the reasoning effort, answer mode and masking only when they apply."""
    params: dict[str, Any] = {
        "model": model,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "prompt_template": PROMPT_TEMPLATE_VERSION,
        "tool_schema": TOOL_SCHEMA_VERSION,
    }
    if reasoning_effort is not None:
        params["reasoning_effort"] = reasoning_effort
    if output_mode is not None:
        params["output_mode"] = output_mode
    if masking:
        params["masking"] = True
    return params


def settings_replay_params(settings: Settings) -> dict[str, Any]:
    """:func:`replay_params` of the configured LLM (when no client is built)."""
    return replay_params(**sampling_for(settings).replay_fields())
