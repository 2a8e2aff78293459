"""Feed text is data: cleaned, length-capped and never trusted.

Titles and summaries come from third parties and may carry HTML, control characters, bidi
overrides or kilobytes of text. Everything a feed says passes through :func:`clean_text` before
it becomes a knowledge object, so the context only ever holds plain, single-line, bounded text.
(The prompt additionally keeps all context inside its data delimiters.)
"""

from __future__ import annotations

import html
import re
import unicodedata

TITLE_CAP = 300
SUMMARY_CAP = 600
URL_CAP = 2048

_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")
# Control (Cc), format (Cf: zero-width, bidi overrides) and unassigned/private code points.
_DROP_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}
_LAYOUT = "\t\n\r\v\f"
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: object, cap: int) -> str:
    """Plain single-line text of at most ``cap`` characters ("" for anything unusable).

    HTML tags are removed and entities decoded (feeds put markup in summaries); control and
    invisible format characters are dropped; whitespace runs become one space; a capped text
    ends with an ellipsis.
    """
    if not isinstance(value, str) or cap <= 0:
        return ""
    text = value[: cap * 20]  # bound the work on a huge field before any regex runs
    text = html.unescape(_TAG.sub(" ", text))
    if text.isascii():  # the common case: one regex instead of a look at every character
        text = _ASCII_CONTROL.sub(lambda m: " " if m.group() in _LAYOUT else "", text)
    else:
        text = "".join(
            " " if ch in _LAYOUT else ch
            for ch in text
            if ch in _LAYOUT or unicodedata.category(ch) not in _DROP_CATEGORIES
        )
    text = _SPACE.sub(" ", text).strip()
    if len(text) > cap:
        text = text[: cap - 1].rstrip() + "…"
    return text


def clean_url(value: object) -> str | None:
    """An http(s) URL without whitespace or control characters, or None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if len(url) > URL_CAP or not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
        return None
    if _ASCII_CONTROL.search(url) or " " in url:
        return None
    if not url.isascii() and any(
        unicodedata.category(ch) in _DROP_CATEGORIES or ch.isspace() for ch in url
    ):
        return None
    return url
