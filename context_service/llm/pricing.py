"""Model prices and cost arithmetic in integer micro-dollars.

Prices are USD per 1M tokens, so one token costs exactly ``price`` micro-dollars. They come from
a pinned copy of LiteLLM's model price map (``llm/data/litellm_prices.json``: input, output and
cached-input rates of its chat models; the LiteLLM version is recorded in the file), with
``CTX_LLM_PRICES`` entries added or overriding per field (``settings.llm_prices``). A model in
neither is refused: its cost cannot be bounded. A local model is priced by marking it free.

Prompt tokens the endpoint reports as served from its prefix cache
(``prompt_tokens_details.cached_tokens``) cost the cached rate; reservations assume none are.
Costs are rounded up: the ledger must never under-count.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from context_service.llm_options import PriceOverride

MICROS_PER_USD = 1_000_000
PINNED_FILE = "litellm_prices.json"


class UnknownModelPrice(LookupError):
    """The model has no price: its cost cannot be bounded, so no call."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per 1M input, output and cached-input tokens."""

    input_per_million: Decimal
    output_per_million: Decimal
    cached_input_per_million: Decimal | None = None  # None: the input rate

    @property
    def is_free(self) -> bool:
        return self.input_per_million == 0 and self.output_per_million == 0

    def cost_micros(
        self, prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int = 0
    ) -> int:
        """Cost in micro-dollars, rounded up. ``cached_prompt_tokens`` are part of
        ``prompt_tokens`` (as the API reports them), priced at the cached rate."""
        cached = min(max(cached_prompt_tokens, 0), prompt_tokens)
        cached_rate = self.cached_input_per_million
        if cached_rate is None or cached_rate > self.input_per_million:
            cached_rate = self.input_per_million
        exact = (
            (prompt_tokens - cached) * self.input_per_million
            + cached * cached_rate
            + completion_tokens * self.output_per_million
        )
        return math.ceil(exact)


@lru_cache(maxsize=1)
def pinned_prices() -> dict[str, dict[str, Any]]:
    """The pinned LiteLLM map: model -> {input, output[, cached_input][, max_input_tokens]}."""
    text = resources.files("context_service.llm").joinpath("data", PINNED_FILE).read_text("utf-8")
    return json.loads(text)["models"]


def pinned_version() -> str:
    text = resources.files("context_service.llm").joinpath("data", PINNED_FILE).read_text("utf-8")
    return str(json.loads(text)["litellm_version"])


def _candidates(model: str) -> list[str]:
    """Names to look a model up under: as given, then without a ``provider/`` prefix."""
    names = [model]
    if "/" in model:
        names.append(model.rsplit("/", 1)[-1])
    return names


def price_for(overrides: dict[str, PriceOverride], model: str) -> ModelPrice:
    """The price of ``model``: the pinned entry with ``overrides`` applied field by field."""
    pinned = pinned_prices()
    fields: dict[str, Decimal] = {}
    for name in reversed(_candidates(model)):  # the most specific name wins
        entry = pinned.get(name)
        if entry is not None:
            fields.update(
                {k: Decimal(entry[k]) for k in ("input", "output", "cached_input") if k in entry}
            )
        override = overrides.get(name)
        if override is not None:
            fields.update(override.fields())
    if "input" not in fields or "output" not in fields:
        raise UnknownModelPrice(
            f"model {model!r} has no input/output price (pinned LiteLLM map or CTX_LLM_PRICES); "
            "refusing to call it. Price it, or mark a local model free: "
            f'CTX_LLM_PRICES=\'{{"{model}": {{"free": true}}}}\''
        )
    return ModelPrice(fields["input"], fields["output"], fields.get("cached_input"))


def usd_to_micros(usd: Decimal | float) -> int:
    return int((Decimal(str(usd)) * MICROS_PER_USD).to_integral_value())


def micros_to_usd(micros: int) -> float:
    return micros / MICROS_PER_USD
