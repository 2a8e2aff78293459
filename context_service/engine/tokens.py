"""Exact token counting for the model that will read the synthesized text.

Which encoding is used, in order of preference:

1. the model's own encoding (``tiktoken.encoding_for_model``; gpt-4.1* and gpt-4o* are
   ``o200k_base``),
2. ``cl100k_base`` when the model's encoding cannot be loaded (offline machines usually cache
   only that one: point ``TIKTOKEN_CACHE_DIR`` at the folder that holds it),
3. UTF-8 bytes when no encoding loads at all. Byte-level BPE never produces more tokens than
   the text has bytes, so the byte count is an upper bound and a budget kept in bytes still holds.

Which of the three was chosen is logged once per model. Encodings are loaded once per process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

log = logging.getLogger(__name__)

FALLBACK_ENCODING = "cl100k_base"
BYTES_ENCODING = "utf8-bytes"

_lock = threading.Lock()
_encodings_by_model: dict[str, tiktoken.Encoding | None] = {}


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
        encoding = tiktoken.encoding_for_model(model)
        log.info("token counting for %s uses its encoding %s", model, encoding.name)
        return encoding
    except Exception as error:  # unknown model, or the encoding file cannot be fetched offline
        first_error = error
    try:
        encoding = tiktoken.get_encoding(FALLBACK_ENCODING)
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
        "encoding of %s not loadable (%s); counting tokens with %s instead",
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
