"""The call parameters that shape an LLM answer besides its context: part of every replay key.

The one definition: a live LLM client (its ``sampling``) and the settings of a replay-only
backtest must give the same parameters, or recorded verdicts would never be found again.
"""

from __future__ import annotations

from typing import Any

from context_service.llm.prompt import PROMPT_TEMPLATE_VERSION
from context_service.llm.tools import TOOL_SCHEMA_VERSION
from context_service.settings import Settings


def replay_params(model: str, temperature: float, max_tokens: int) -> dict[str, Any]:
    """Model, sampling, prompt template version and tool schema version."""
    return {
        "model": model,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "prompt_template": PROMPT_TEMPLATE_VERSION,
        "tool_schema": TOOL_SCHEMA_VERSION,
    }


def settings_replay_params(settings: Settings) -> dict[str, Any]:
    """:func:`replay_params` of the configured LLM (when no client is built)."""
    return replay_params(
        settings.llm_model, settings.llm_temperature, settings.llm_max_output_tokens
    )
