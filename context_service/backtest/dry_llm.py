"""The estimate's dry ``llm`` provider: the real prompt of every ask, counted, and no call.

Registered in place of ``llm`` for a pre-pass of the run (``llm_chain.registered_as``), it sees
exactly the asks the real provider would: the chain is the same (``replay -> llm -> rules ->
hold``), so an ask the replay cache answers never reaches it (it is free). For each ask that
does, it builds the request the real provider would send (the same instructions, tools, masking
and layout: ``llm/prompt.py``), counts its tokens with the model's own tokenizer exactly as the
ledger's reservation does (``llm/bound.py``: content, roles, tool schemas and the chat
template's overhead), records the count, and steps aside (``estimate_only``) so the rules
answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from context_service.contract import VerdictRequest
from context_service.engine.tokens import TokenCounter
from context_service.llm.bound import TOKENS_REPLY_PRIMING, prompt_bound
from context_service.llm.masking import Masker
from context_service.llm.prompt import build_messages
from context_service.llm.request_shape import Sampling, response_format, sampling_for
from context_service.llm.tools import tools_for
from context_service.settings import Settings
from context_service.verdicts.provider import Ask, Decision, ProviderSkipped, VerdictProvider

ESTIMATE_ONLY = "estimate_only"


@dataclass(frozen=True, slots=True)
class PromptCount:
    """The tokens of one ask's request, in both masking modes."""

    candidate: str
    tokens: int  # the configured masking mode's prompt, as reserved
    masked_tokens: int  # masking on
    unmasked_tokens: int  # masking off
    prefix_tokens: int  # tools, instructions and standing lanes: what a prefix cache can serve
    method: str  # the tokenizer (an encoding name) or "utf8-bytes"


@dataclass
class DryTally:
    """What the dry provider saw during one pre-pass."""

    counts: list[PromptCount] = field(default_factory=list)


def _messages(
    shape: Sampling, settings: Settings, request: VerdictRequest, text: str, masked: bool
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The messages and the tools (or response schema) the real provider would send."""
    suggestions = settings.apply_adjustments and shape.output_mode == "tools"
    masker = Masker(request) if masked else None
    messages = build_messages(request, text, shape.output_mode, suggestions, masker)
    tools = tools_for(suggestions)
    sent = tools if shape.output_mode == "tools" else [response_format(shape.output_mode)]
    return messages, sent


def prompt_count(
    settings: Settings, counter: TokenCounter, request: VerdictRequest, context_text: str
) -> PromptCount:
    """The token counts of the request one ask would send (see the module docstring)."""
    shape = sampling_for(settings)
    counted: dict[bool, int] = {}
    prefix = 0
    method = ""
    for masked in (False, True):
        messages, sent = _messages(shape, settings, request, context_text, masked)
        bound = prompt_bound(counter, messages, sent)
        counted[masked] = bound.tokens
        method = bound.method
        if masked == settings.llm_masking:
            # Everything before the last (volatile) message: identical from one ask to the next.
            prefix = prompt_bound(counter, messages[:-1], sent).tokens - TOKENS_REPLY_PRIMING
    return PromptCount(
        candidate=request.candidate,
        tokens=counted[settings.llm_masking],
        masked_tokens=counted[True],
        unmasked_tokens=counted[False],
        prefix_tokens=prefix,
        method=method,
    )


def dry_llm_provider(base: type[VerdictProvider], tally: DryTally) -> type[VerdictProvider]:
    """A provider named like ``base`` (the registered ``llm``) that counts and never calls."""

    class DryLLMProvider(VerdictProvider):
        """Counts the prompt of every ask that reaches the LLM step; skipped ``estimate_only``."""

        name = base.name
        summary = "estimate pre-pass: counts the LLM prompt, calls nothing"
        fallback = base.fallback
        metered = base.metered

        def __init__(self, settings: Settings) -> None:
            self.settings = settings
            self.counter = TokenCounter(settings.llm_model)

        @classmethod
        def build(cls, components: Any) -> VerdictProvider:
            return cls(components.settings)

        def decide(self, ask: Ask) -> Decision:
            tally.counts.append(
                prompt_count(self.settings, self.counter, ask.request, ask.synthesis.text)
            )
            raise ProviderSkipped(ESTIMATE_ONLY)

    return DryLLMProvider
