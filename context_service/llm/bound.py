"""The upper bound of what one chat-completions call can be billed, in tokens.

The reservation must cover everything the endpoint counts: every message (role and content), the
tool schemas, the chat template's per-message and reply overhead, and the completion limit.
With the model's own tokenizer the prompt is counted exactly and the template overhead added;
when it cannot be loaded (an unknown model, an offline machine) the UTF-8 byte count of the whole
JSON request is used instead: byte-level BPE never produces more tokens than the text has bytes,
so the byte count bounds any such tokenizer. A usage figure above this bound is an over-report
(handled by the ledger); one far above it, or negative, is refused as absurd.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from context_service.engine.tokens import TokenCounter

# Chat formatting per message (role markers, separators) and priming of the reply; tool
# definitions are rendered by the endpoint in its own format, bounded by their JSON plus this.
TOKENS_PER_MESSAGE = 4
TOKENS_REPLY_PRIMING = 3
TOKENS_PER_TOOL = 16
# Usage more than this many times the bound cannot be what was sent (the bound already counts
# every byte when the tokenizer is unknown): not a pricing dispute but a broken endpoint.
ABSURD_FACTOR = 4


@dataclass(frozen=True, slots=True)
class PromptBound:
    """Upper bound of the prompt tokens of one request, and how it was counted."""

    tokens: int
    method: str  # a tiktoken encoding name, or "utf8-bytes"


def own_encoding_name(model: str) -> str | None:
    """The tiktoken encoding the model itself uses, or None when tiktoken does not know it."""
    try:
        from tiktoken.model import encoding_name_for_model

        return encoding_name_for_model(model)
    except Exception:  # KeyError for unknown models, ImportError without tiktoken
        return None


def prompt_bound(
    counter: TokenCounter, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> PromptBound:
    """Upper bound of the prompt tokens of ``messages`` with ``tools`` for ``counter.model``."""
    # The larger of the usual serializations (with spaces), so the bound holds for either.
    tools_json = json.dumps(tools)
    if counter.encoding_name == own_encoding_name(counter.model):
        tokens = sum(
            counter.count(str(m.get("content") or "")) + counter.count(str(m["role"]))
            for m in messages
        )
        tokens += counter.count(tools_json)
        method = counter.encoding_name
    else:
        # Not the model's tokenizer: every byte of the request, which bounds any byte-level BPE.
        tokens = len(json.dumps(messages, ensure_ascii=False).encode()) + len(tools_json.encode())
        method = "utf8-bytes"
    tokens += TOKENS_PER_MESSAGE * len(messages) + TOKENS_REPLY_PRIMING
    tokens += TOKENS_PER_TOOL * len(tools)
    return PromptBound(tokens, method)


def usage_problem(
    prompt_tokens: int, completion_tokens: int, bound: PromptBound, max_completion: int
) -> str | None:
    """Why reported usage cannot be believed (negative, absurdly large), or None."""
    if prompt_tokens < 0 or completion_tokens < 0:
        return f"negative usage reported ({prompt_tokens} prompt, {completion_tokens} completion)"
    return absurd_usage(prompt_tokens, completion_tokens, bound, max_completion)


def absurd_usage(
    prompt_tokens: int, completion_tokens: int, bound: PromptBound, max_completion: int
) -> str | None:
    if prompt_tokens > ABSURD_FACTOR * bound.tokens or completion_tokens > ABSURD_FACTOR * max(
        1, max_completion
    ):
        return (
            f"absurd usage reported ({prompt_tokens} prompt, {completion_tokens} completion "
            f"tokens for a request bounded at {bound.tokens} + {max_completion})"
        )
    return None
