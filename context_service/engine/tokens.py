"""Exact token counting for the model that will read the synthesized text.

Which encoding is used, in order of preference:

1. the model's own encoding (``tiktoken.encoding_name_for_model``; gpt-5*, gpt-4.1*, gpt-4o* and
   the o-series are ``o200k_base``, gpt-4 and gpt-3.5 ``cl100k_base``). ``cl100k_base`` and
   ``o200k_base`` ship with the package (engine/bundled_encodings.py), so they load offline with
   no ``TIKTOKEN_CACHE_DIR``; other encodings go through tiktoken (its cache or a download);
2. ``cl100k_base`` for a model tiktoken does not know (a local model: its own tokenizer is not
   OpenAI's, so the count is an estimate and the LLM provider adds a margin);
3. UTF-8 bytes when no encoding loads at all. Byte-level BPE never produces more tokens than
   the text has bytes, so the byte count is an upper bound and a budget kept in bytes still holds.

Which was chosen is logged once per model. Encodings are loaded once per process.

Counting a whole synthesized document (:meth:`TokenCounter.count_document`) is exact and
cheap: the document is cut where a line starts, each piece counted once and remembered. That
the pieces' counts add up to the document's is a property of the two bundled encodings'
pre-tokenizers, explained at :data:`_PIECE_START` and checked against whole-text encoding by
a property test (tests/engine/test_document_count.py).
"""

from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING

from context_service.engine.bundled_encodings import BUNDLED, bundled_encoding

if TYPE_CHECKING:
    import tiktoken

log = logging.getLogger(__name__)

FALLBACK_ENCODING = "cl100k_base"
BYTES_ENCODING = "utf8-bytes"

# Where a document can be cut so that counting the pieces one by one gives exactly the count
# of the whole: right after a newline, before a character that is neither whitespace nor "/".
# Tiktoken encodes each match of the encoding's pre-tokenizer regex on its own, so the counts
# add up when every cut is a match boundary and matching each piece alone gives the same
# matches. For cl100k_base and o200k_base no alternative of the regex matches a newline followed
# by such a character: letter runs take at most one leading character and never a newline,
# punctuation runs take newlines only at their end (o200k_base also "/", hence its exclusion),
# and the whitespace alternatives stop before non-whitespace. A piece that ends in a whitespace
# run ending in a newline is matched as one run with or without the text after it.
_PIECE_START = re.compile(r"(?<=\n)(?=[^\s/])")
_ADDITIVE_ENCODINGS = frozenset(BUNDLED)
# Counts of document pieces (lines, mostly), shared by every counter of an encoding: the same
# goals, constraints and snapshots recur in request after request. Bounded by clearing.
_PIECE_CACHE_LIMIT = 50_000
_piece_counts: dict[tuple[str, str], int] = {}
# Counts of a line cut after each of its words (see TokenCounter.word_cut_counts), for lines
# that a synthesis shortens again and again. Bounded by clearing.
_CUT_CACHE_LIMIT = 4_096
_cut_counts: dict[tuple[str, str, str, str], tuple[int, ...]] = {}

_lock = threading.Lock()
_encodings_by_model: dict[str, tiktoken.Encoding | None] = {}
_encodings_by_name: dict[str, tiktoken.Encoding] = {}


def load_named_encoding(name: str) -> tiktoken.Encoding:
    """An encoding by name: bundled when it is one of ours, else through tiktoken. Cached."""
    import tiktoken

    if name not in _encodings_by_name:
        loaded = bundled_encoding(name) if name in BUNDLED else tiktoken.get_encoding(name)
        _encodings_by_name[name] = loaded
    return _encodings_by_name[name]


def _load_encoding(model: str) -> tiktoken.Encoding | None:
    """The best encoding we can load for ``model``, or None (then count bytes)."""
    try:
        # Imported here: the bot image ships the strategy without tiktoken (it never counts
        # tokens), and importing the engine's lane rules must not require it.
        import tiktoken
    except ImportError as error:
        log.warning("tiktoken is not installed (%s); counting UTF-8 bytes", error)
        return None
    try:
        # An encoding name stands for itself (a model declared with its tokenizer).
        name = model if model in BUNDLED else tiktoken.encoding_name_for_model(model)
        encoding = load_named_encoding(name)
        log.info("token counting for %s uses its encoding %s", model, encoding.name)
        return encoding
    except Exception as error:  # a model tiktoken does not know, or an encoding not loadable
        first_error = error
    try:
        encoding = load_named_encoding(FALLBACK_ENCODING)
    except Exception as error:
        log.warning(
            "no tiktoken encoding loadable for %s (%s; %s: %s); counting UTF-8 bytes, an upper "
            "bound of the real token count",
            model,
            first_error,
            FALLBACK_ENCODING,
            error,
        )
        return None
    log.warning(
        "encoding of %s not known or not loadable (%s); counting tokens with %s instead",
        model,
        first_error,
        FALLBACK_ENCODING,
    )
    return encoding


def encoding_for(model: str) -> tiktoken.Encoding | None:
    """The cached encoding chosen for ``model`` (None means UTF-8 byte counting)."""
    with _lock:
        if model not in _encodings_by_model:
            _encodings_by_model[model] = _load_encoding(model)
        return _encodings_by_model[model]


def reset_encoding_cache() -> None:
    """Forget loaded encodings (tests use it to simulate a machine without encoding files)."""
    with _lock:
        _encodings_by_model.clear()
        _encodings_by_name.clear()


def _word_ends(start: int, words: Sequence[str]) -> list[int]:
    """UTF-8 byte offsets where each of ``words`` ends, the words laid out from ``start`` with
    one space between them."""
    ends = accumulate((len(word.encode("utf-8")) + 1 for word in words), initial=start)
    return [end - 1 for end in list(ends)[1:]]  # each word's end, before the space after it


class TokenCounter:
    """Counts tokens of text exactly as ``model`` will see it (see the module docstring)."""

    def __init__(self, model: str = "gpt-4.1-mini") -> None:
        self.model = model
        self._encoding = encoding_for(model)
        self.encoding_name: str = self._encoding.name if self._encoding else BYTES_ENCODING
        self._fixed: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"TokenCounter(model={self.model!r}, encoding={self.encoding_name!r})"

    def count(self, text: str) -> int:
        """Number of tokens of ``text`` (special-token strings count as ordinary text)."""
        if self._encoding is None:
            return len(text.encode("utf-8"))
        return len(self._encoding.encode_ordinary(text))

    def count_document(self, text: str) -> int:
        """:meth:`count` of a whole document (lines joined by newlines), exact, with the count
        of each line remembered across calls (see :data:`_PIECE_START`)."""
        if self._encoding is None or self.encoding_name not in _ADDITIVE_ENCODINGS:
            return self.count(text)
        encode = self._encoding.encode_ordinary
        name, total = self.encoding_name, 0
        for piece in _PIECE_START.split(text):
            key = (name, piece)
            known = _piece_counts.get(key)
            if known is None:
                if len(_piece_counts) >= _PIECE_CACHE_LIMIT:
                    _piece_counts.clear()  # cheaper than an LRU's bookkeeping on every piece
                known = _piece_counts[key] = len(encode(piece))
            total += known
        return total

    def word_cut_counts(self, prefix: str, words: Sequence[str], suffix: str) -> tuple[int, ...]:
        """Exact :meth:`count` of ``prefix + " ".join(words[:k]) + suffix`` for ``k`` = 1 ..
        ``len(words)`` (the cuts a shortened line can make), from one encoding of the line.

        ``words`` hold no whitespace and ``suffix`` starts with a space. A cut after a word is
        then a boundary of the bundled encodings' pre-tokenizers, in the whole line and in the
        cut one: no alternative of their regexes runs from a non-space character across a
        space into a non-space character (the letter, digit and punctuation runs stop before
        whitespace, and a space is only ever the first character of the piece it starts). So
        the tokens before a cut are the whole line's tokens that end by it, and the suffix adds
        its own count. Other encodings count each cut on its own. A property test checks the
        counts against whole-text encoding (tests/engine/test_document_count.py). Remembered,
        since the same lines are shortened in synthesis after synthesis.
        """
        text = " ".join(words)
        key = (self.encoding_name, prefix, text, suffix)
        known = _cut_counts.get(key)
        if known is not None:
            return known
        if self._encoding is None:  # UTF-8 bytes add up everywhere
            ends = _word_ends(len(prefix.encode("utf-8")), words)
            known = tuple(end + len(suffix.encode("utf-8")) for end in ends)
        elif self.encoding_name in _ADDITIVE_ENCODINGS:
            tokens = self._encoding.decode_tokens_bytes(
                self._encoding.encode_ordinary(prefix + text)
            )
            token_ends = list(accumulate(len(token) for token in tokens))
            tail = self.count_fixed(suffix)
            ends = _word_ends(len(prefix.encode("utf-8")), words)
            known = tuple(bisect_right(token_ends, end) + tail for end in ends)
        else:
            known = tuple(
                self.count(f"{prefix}{' '.join(words[:cut])}{suffix}")
                for cut in range(1, len(words) + 1)
            )
        if len(_cut_counts) >= _CUT_CACHE_LIMIT:
            _cut_counts.clear()
        _cut_counts[key] = known
        return known

    def count_fixed(self, text: str) -> int:
        """:meth:`count` of a text that recurs verbatim (lane headers), remembered."""
        known = self._fixed.get(text)
        if known is None:
            known = self._fixed[text] = self.count(text)
        return known

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Token counts of several texts at once (faster than one by one)."""
        if self._encoding is None:
            return [len(text.encode("utf-8")) for text in texts]
        # A plain loop: tiktoken's batch API submits one thread-pool task per text, which costs
        # more than encoding a line of text.
        encode = self._encoding.encode_ordinary
        return [len(encode(text)) for text in texts]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (UTF-8 bytes when counting bytes)."""
        if self._encoding is None:
            return list(text.encode("utf-8"))
        return self._encoding.encode_ordinary(text)
