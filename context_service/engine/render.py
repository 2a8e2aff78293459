"""How knowledge objects and lane headers look in the working-memory text.

Every rendered piece is one line that ends with exactly one newline and starts with a visible
character. tiktoken's pre-tokenizer never joins a newline with the visible character after it,
so the tokens of the whole text are the sum of the tokens of its pieces: each piece is counted
once, when its object is upserted, and the engine still verifies the final text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import TYPE_CHECKING

from context_service.models import KnowledgeObject

if TYPE_CHECKING:
    from context_service.engine.tokens import TokenCounter

TRUNCATION_MARKER = " …[truncated]"
_PUNCTUATION = re.compile(r"[^\w\s]+")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) turned into one space."""
    return " ".join(text.split())


def dedup_key(obj: KnowledgeObject) -> str:
    """Normalised summary: case, punctuation and spacing do not make a different story."""
    return " ".join(_PUNCTUATION.sub(" ", obj.summary.casefold()).split())


def lane_header(lane_name: str) -> str:
    return f"## {lane_name}\n"


def line_prefix(obj: KnowledgeObject) -> str:
    """``- [id] (facts) `` : the id first, so an LLM can cite it."""
    facts: list[str] = []
    kind = obj.kind  # type: ignore[attr-defined]
    if kind in ("evidence", "insight"):
        facts.append(obj.severity.value)  # type: ignore[attr-defined]
        facts.append(f"conf {obj.confidence:.2f}")  # type: ignore[attr-defined]
    else:
        facts.append(obj.priority.value)  # type: ignore[attr-defined]
        if kind == "constraint" and obj.hard:  # type: ignore[attr-defined]
            facts.append("hard")
    if obj.pinned:
        facts.append("pinned")
    if obj.observed_at is not None:
        facts.append(obj.observed_at.strftime("%Y-%m-%dT%H:%MZ"))
    return f"- [{obj.id}] ({', '.join(facts)}) "


def compact_prefix(obj: KnowledgeObject) -> str:
    """``- [id] ``: the id alone, for a shortened line whose facts would not fit."""
    return f"- [{obj.id}] "


def render_line(obj: KnowledgeObject) -> str:
    return f"{line_prefix(obj)}{one_line(obj.summary)}\n"


def shorten_object(
    obj: KnowledgeObject, max_tokens: int, counter: TokenCounter
) -> tuple[str, int] | None:
    """``obj``'s line shortened to at most ``max_tokens``, and its token count: with its facts
    when at least one word then fits, else with its id alone (a small last gap of the budget
    still carries a cited, readable piece). None when not even that fits."""
    for prefix in (line_prefix(obj), compact_prefix(obj)):
        shortened = shorten_line(prefix, obj.summary, max_tokens, counter)
        if shortened is not None:
            return shortened
    return None


def shorten_line(
    prefix: str, summary: str, max_tokens: int, counter: TokenCounter
) -> tuple[str, int] | None:
    """The longest ``prefix + first words of summary + marker`` that fits ``max_tokens``, and
    its token count.

    Cuts only between words, so no word (and no token inside it) is split. None when not even
    one word fits. The count of every cut comes from one encoding of the line, remembered
    (:meth:`TokenCounter.word_cut_counts`): a synthesis may shorten a dozen lines, and the
    next synthesis the same ones.
    """
    words = one_line(summary).split(" ")[:-1]  # keeping every word would not be a shortening
    if not words:
        return None
    suffix = f"{TRUNCATION_MARKER}\n"
    counts = counter.word_cut_counts(prefix, words, suffix)
    keep = bisect_right(counts, max_tokens)  # counts grow with every word kept
    if keep == 0:
        return None
    return f"{prefix}{' '.join(words[:keep])}{suffix}", counts[keep - 1]
