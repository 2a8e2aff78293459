"""What each model accepts, so every request is one the endpoint takes.

GPT-5 and the o-series reject ``max_tokens`` and any ``temperature`` but the default; they
spend hidden reasoning tokens that are billed as completion tokens and count against
``max_completion_tokens``. Older chat models take ``max_tokens`` and a temperature. Local
OpenAI-compatible servers take the classic parameters; some cannot call tools.

The table is matched by the longest model-name prefix (``gpt-5-mini-2025-08-07`` is
``gpt-5-mini``), after dropping a ``provider/`` prefix. Models it does not know get the
classic chat parameters (what local servers and proxies accept); ``CTX_LLM_CAPABILITIES``
declares or corrects any model's entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from context_service.llm_options import CapabilityOverride, CompletionLimit, ReasoningEffort

__all__ = [
    "KNOWN",
    "UNKNOWN",
    "CapabilityOverride",
    "ModelCapabilities",
    "ReasoningEffort",
    "lookup",
]


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """What one model family accepts and how it counts."""

    family: str
    completion_limit: CompletionLimit = "max_tokens"
    temperature: bool = True
    reasoning: bool = False  # spends billed reasoning tokens within the completion limit
    reasoning_efforts: tuple[ReasoningEffort, ...] = ()
    context_window: int = 8192
    training_cutoff: date | None = None
    tokenizer: str | None = None  # tiktoken encoding name; None: not OpenAI's (an estimate)
    tool_calling: bool = True
    json_schema: bool = True

    def effort(self, wanted: ReasoningEffort) -> ReasoningEffort | None:
        """The reasoning effort to send: the wanted one, or the nearest higher it accepts."""
        if not self.reasoning or not self.reasoning_efforts:
            return None
        order: tuple[ReasoningEffort, ...] = ("minimal", "low", "medium", "high")
        for level in order[order.index(wanted) :]:
            if level in self.reasoning_efforts:
                return level
        return self.reasoning_efforts[-1]


_GPT5 = ModelCapabilities(
    family="gpt-5",
    completion_limit="max_completion_tokens",
    temperature=False,
    reasoning=True,
    reasoning_efforts=("minimal", "low", "medium", "high"),
    context_window=400_000,
    training_cutoff=date(2024, 9, 30),
    tokenizer="o200k_base",
)
_O_SERIES = ModelCapabilities(
    family="o-series",
    completion_limit="max_completion_tokens",
    temperature=False,
    reasoning=True,
    reasoning_efforts=("low", "medium", "high"),
    context_window=200_000,
    training_cutoff=date(2024, 6, 1),
    tokenizer="o200k_base",
)
_GPT41 = ModelCapabilities(
    family="gpt-4.1",
    context_window=1_047_576,
    training_cutoff=date(2024, 6, 1),
    tokenizer="o200k_base",
)
_GPT4O = ModelCapabilities(
    family="gpt-4o",
    context_window=128_000,
    training_cutoff=date(2023, 10, 1),
    tokenizer="o200k_base",
)

KNOWN: dict[str, ModelCapabilities] = {
    "gpt-5": _GPT5,
    "gpt-5-mini": replace(_GPT5, training_cutoff=date(2024, 5, 31)),
    "gpt-5-nano": replace(_GPT5, training_cutoff=date(2024, 5, 31)),
    "o1": replace(_O_SERIES, training_cutoff=date(2023, 10, 1)),
    "o1-mini": replace(
        _O_SERIES,
        reasoning_efforts=(),
        context_window=128_000,
        training_cutoff=date(2023, 10, 1),
        tool_calling=False,
        json_schema=False,
    ),
    "o3": _O_SERIES,
    "o3-mini": replace(_O_SERIES, training_cutoff=date(2023, 10, 1)),
    "o4-mini": _O_SERIES,
    "gpt-4.1": _GPT41,
    "gpt-4o": _GPT4O,
    "gpt-4o-mini": _GPT4O,
    "gpt-4.5": replace(_GPT4O, family="gpt-4.5"),
    "gpt-4-turbo": replace(
        _GPT4O,
        family="gpt-4",
        training_cutoff=date(2023, 12, 1),
        tokenizer="cl100k_base",
        json_schema=False,
    ),
    "gpt-4": ModelCapabilities(
        family="gpt-4",
        context_window=8192,
        training_cutoff=date(2021, 9, 1),
        tokenizer="cl100k_base",
        json_schema=False,
    ),
    "gpt-3.5-turbo": ModelCapabilities(
        family="gpt-3.5",
        context_window=16_385,
        training_cutoff=date(2021, 9, 1),
        tokenizer="cl100k_base",
        json_schema=False,
    ),
}


# A model nobody declared: classic chat parameters, a small window, no known tokenizer.
UNKNOWN = ModelCapabilities(family="unknown")


def base_name(model: str) -> str:
    """``openai/gpt-5`` -> ``gpt-5``: proxies and routers prefix the provider."""
    return model.rsplit("/", 1)[-1].strip().lower()


def lookup(model: str, declared: dict[str, CapabilityOverride] | None = None) -> ModelCapabilities:
    """The capabilities of ``model``: its declared entry over the table's longest prefix."""
    name = base_name(model)
    found = UNKNOWN
    for prefix in sorted(KNOWN, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "-"):
            found = KNOWN[prefix]
            break
    overrides = (declared or {}).get(model) or (declared or {}).get(name)
    if overrides is not None:
        fields: dict[str, Any] = overrides.model_dump(exclude_none=True)
        if "reasoning_efforts" in fields:
            fields["reasoning_efforts"] = tuple(fields["reasoning_efforts"])
        found = replace(found, **fields)
    return found
