"""The LLM options the settings validate: declared model capabilities and price entries.

A module of its own below ``settings`` (which reads them from ``CTX_LLM_CAPABILITIES`` and
``CTX_LLM_PRICES``) and the ``llm`` package (which uses them), so neither imports the other.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CompletionLimit = Literal["max_tokens", "max_completion_tokens"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]


class CapabilityOverride(BaseModel):
    """One model's declared capabilities (``CTX_LLM_CAPABILITIES``); unset fields keep the
    table's (or the classic defaults)."""

    model_config = ConfigDict(extra="forbid")

    completion_limit: CompletionLimit | None = None
    temperature: bool | None = None
    reasoning: bool | None = None
    reasoning_efforts: list[ReasoningEffort] | None = None
    context_window: int | None = Field(default=None, ge=256, le=10_000_000)
    training_cutoff: date | None = None
    tokenizer: Literal["cl100k_base", "o200k_base"] | None = None
    tool_calling: bool | None = None
    json_schema: bool | None = None


# --- prices ------------------------------------------------------------------------------
# One CTX_LLM_PRICES entry: a price added to, or correcting, the pinned price map (USD per 1M
# tokens). Fields left out keep the pinned entry's values, so {"gpt-5": {"cached_input": "0.1"}}
# changes one rate only. {"free": true} marks a model that costs nothing (a local server): every
# rate is 0. Rates must be finite and not negative.

MAX_USD_PER_MILLION = Decimal(100_000)  # far above any real price; catches unit mistakes


class PriceOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Decimal | None = None
    output: Decimal | None = None
    cached_input: Decimal | None = None
    free: bool = False

    @field_validator("input", "output", "cached_input")
    @classmethod
    def _finite_and_sane(cls, value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        if not value.is_finite() or value < 0 or value > MAX_USD_PER_MILLION:
            raise ValueError(
                f"a price must be a finite number of USD per 1M tokens from 0 to "
                f"{MAX_USD_PER_MILLION}, not {value}"
            )
        return value

    @model_validator(mode="after")
    def _free_means_zero(self) -> PriceOverride:
        if self.free and any(v for v in (self.input, self.output, self.cached_input)):
            raise ValueError("a model marked free cannot also have a non-zero price")
        if not self.free and not self.fields():
            raise ValueError("give input, output or cached_input prices, or free: true")
        return self

    def fields(self) -> dict[str, Decimal]:
        """The rates this entry sets."""
        if self.free:
            return {"input": Decimal(0), "output": Decimal(0), "cached_input": Decimal(0)}
        return {
            name: value
            for name, value in (
                ("input", self.input),
                ("output", self.output),
                ("cached_input", self.cached_input),
            )
            if value is not None
        }
