"""What a run's LLM calls will cost, before any is made.

Per line (a run, an evaluation variant, the masked sample): the asks of a dry pre-pass of the
same run (``dry_llm.py``), of which the replay cache answers some for free; the others become
calls, each with its prompt counted exactly (the model's tokenizer, chat overhead included) and
the completion reserved in full (the completion limit: answer plus reasoning allowance, the
ledger's bound). Prices come from ``llm/pricing.py`` (the pinned LiteLLM map and
``CTX_LLM_PRICES``). Two totals: with the provider's prefix cache (OpenAI caches the longest
identical prefix of 1,024 tokens or more, in 128-token steps, billed at the cached-input rate:
the tools, instructions and standing goals come first in every request), and without it (the
sum of the reservations, what ``--max-usd`` is checked against).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from context_service.backtest.dry_llm import PromptCount
from context_service.llm.pricing import ModelPrice, micros_to_usd, pinned_version

CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128

METHOD = (
    "asks counted by a dry pre-pass of the same run: the replay cache answers what it holds "
    "(free), the llm step builds each real prompt, counts it with the model's tokenizer (chat "
    "overhead included) and lets the rules answer; the LLM's own verdicts can lead to somewhat "
    "more or fewer asks (a refused entry frees a slot). Completion tokens are the reserved limit."
)


def cached_prefix_tokens(prefix_tokens: int) -> int:
    """Prompt tokens a prefix cache serves for a request whose stable prefix is this long."""
    if prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    return prefix_tokens // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS


@dataclass
class LineEstimate:
    """One line of the estimate: a run, a variant, or the masked sample."""

    name: str
    asks: int  # verdict asks of the pre-pass (the sample: its requests)
    cached: int  # answered by the replay cache: free
    calls: int  # asks that reach the LLM
    calls_by_candidate: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0  # all calls together
    completion_tokens_per_call: int = 0  # the reserved bound
    cached_prompt_tokens: int = 0  # of prompt_tokens, served from a prefix cache
    usd: float = 0.0  # with the prefix cache
    usd_no_cache: float = 0.0  # the sum of the reservations
    note: str = ""

    @property
    def prompt_tokens_per_call(self) -> float:
        return self.prompt_tokens / self.calls if self.calls else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"prompt_tokens_per_call": round(self.prompt_tokens_per_call, 1)}


def line_estimate(
    name: str,
    asks: int,
    counts: Sequence[PromptCount],
    price: ModelPrice,
    completion_tokens: int,
    *,
    masked: bool | None = None,
    note: str = "",
) -> LineEstimate:
    """The cost of ``counts`` (one per call; ``masked`` picks a masking mode's prompt, None the
    configured one) out of ``asks``, the rest answered by the replay cache."""
    prompt = cached = exact = exact_no_cache = 0
    for count in counts:
        tokens = {None: count.tokens, True: count.masked_tokens, False: count.unmasked_tokens}[
            masked
        ]
        served = min(cached_prefix_tokens(count.prefix_tokens), tokens)
        prompt += tokens
        cached += served
        exact += price.cost_micros(tokens, completion_tokens, served)
        exact_no_cache += price.cost_micros(tokens, completion_tokens)
    return LineEstimate(
        name=name,
        asks=asks,
        cached=asks - len(counts),
        calls=len(counts),
        calls_by_candidate=dict(Counter(c.candidate for c in counts)),
        prompt_tokens=prompt,
        completion_tokens_per_call=completion_tokens,
        cached_prompt_tokens=cached,
        usd=micros_to_usd(exact),
        usd_no_cache=micros_to_usd(exact_no_cache),
        note=note,
    )


@dataclass
class SpendEstimate:
    """The estimate of a whole run, printed before any call and kept in its results."""

    model: str
    price: ModelPrice
    tokenizer: str
    lines: list[LineEstimate]
    rate_per_minute: int
    free_lines: list[str] = field(default_factory=list)  # variants that call no LLM

    @property
    def free(self) -> bool:
        return self.price.is_free

    @property
    def calls(self) -> int:
        return sum(line.calls for line in self.lines)

    @property
    def usd(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def usd_no_cache(self) -> float:
        return sum(line.usd_no_cache for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        p = self.price
        return {
            "model": self.model,
            "usd_per_million": {
                "input": str(p.input_per_million),
                "cached_input": None
                if p.cached_input_per_million is None
                else str(p.cached_input_per_million),
                "output": str(p.output_per_million),
            },
            "prices": f"pinned LiteLLM {pinned_version()} with CTX_LLM_PRICES",
            "tokenizer": self.tokenizer,
            "lines": [line.as_dict() for line in self.lines],
            "free_lines": self.free_lines,
            "calls": self.calls,
            "usd": round(self.usd, 6),
            "usd_no_cache": round(self.usd_no_cache, 6),
            "method": METHOD,
        }


def _usd(value: float) -> str:
    return f"${value:,.4f}"


def format_estimate(estimate: SpendEstimate) -> list[str]:
    """The estimate as printed before the run."""
    p = estimate.price
    cached_rate = p.cached_input_per_million
    rates = f"input {p.input_per_million}" + (
        f", cached input {cached_rate}" if cached_rate is not None else ""
    )
    lines = [
        f"LLM spend estimate, before any call: {estimate.model} (USD per 1M tokens: {rates}, "
        f"output {p.output_per_million}{'; a free model' if estimate.free else ''})"
    ]
    for line in estimate.lines:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(line.calls_by_candidate.items()))
        text = (
            f"  {line.name}: {line.asks} asks, {line.cached} in the replay cache -> {line.calls} "
            f"calls"
        )
        if line.calls:
            text += (
                f" ({kinds}) x {line.prompt_tokens_per_call:,.0f} prompt + "
                f"{line.completion_tokens_per_call} completion tokens"
            )
        if line.cached_prompt_tokens:
            text += f" ({line.cached_prompt_tokens:,} prompt tokens at the cached rate)"
        text += f" = {_usd(line.usd)}"
        if line.usd_no_cache != line.usd:
            text += f", at most {_usd(line.usd_no_cache)} without the prefix cache"
        lines.append(text + (f" [{line.note}]" if line.note else ""))
    for name in estimate.free_lines:
        lines.append(f"  {name}: $0 (calls no LLM)")
    lines.append(
        f"  total: {estimate.calls} calls = {_usd(estimate.usd)} "
        f"(at most {_usd(estimate.usd_no_cache)}); prompts counted with {estimate.tokenizer}"
    )
    lines.append(f"  how: {METHOD}")
    lines.append(
        f"  rate limit: {estimate.rate_per_minute} calls a minute per bot "
        "(CTX_RATE_BOT_PER_MINUTE); asks over it fall back to the rules"
    )
    return lines
