"""Model prices and cost arithmetic in integer micro-dollars.

Prices are USD per 1M tokens (``settings.llm_prices``), so one token costs exactly ``price``
micro-dollars. Costs are rounded up: the ledger must never under-count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

MICROS_PER_USD = 1_000_000


class UnknownModelPrice(LookupError):
    """The model has no entry in the price table: its cost cannot be bounded, so no call."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per 1M input and output tokens."""

    input_per_million: Decimal
    output_per_million: Decimal

    def cost_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        """Cost in micro-dollars, rounded up."""
        exact = prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        return math.ceil(exact)


def price_for(prices: dict[str, dict[str, Decimal]], model: str) -> ModelPrice:
    """The price of ``model`` from a settings price table."""
    entry = prices.get(model)
    if entry is None or "input" not in entry or "output" not in entry:
        raise UnknownModelPrice(
            f"model {model!r} has no input/output price in CTX_LLM_PRICES; refusing to call it"
        )
    return ModelPrice(Decimal(entry["input"]), Decimal(entry["output"]))


def usd_to_micros(usd: Decimal | float) -> int:
    return int((Decimal(str(usd)) * MICROS_PER_USD).to_integral_value())


def micros_to_usd(micros: int) -> float:
    return micros / MICROS_PER_USD
