"""A whole document counted piece by piece equals its count as one text, for both bundled
encodings: the cut points of ``count_document`` are boundaries of their pre-tokenizers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from context_service.engine import TokenCounter
from context_service.engine.render import TRUNCATION_MARKER, one_line
from context_service.engine.tokens import BYTES_ENCODING, load_named_encoding

ENCODINGS = ("cl100k_base", "o200k_base")

# Characters that shape pre-tokenization: letters of several scripts and cases, digits,
# punctuation (with "/" and "'" that the regexes treat specially), every kind of whitespace,
# marks, emoji, and the text our lines are made of.
ALPHABET = st.sampled_from(
    [
        *"aZéß日本Ωω0159.,:;!?-_/\\'\"()[]{}<>|+*%$#@&~`^= \t\r\n\u00a0\u2028\u0301🚀…",
        *["'s", "'ll", "- [", "] (high, conf 0.80) ", "## ", "<|endoftext|>", "\n\n", " \n"],
    ]
)
LINE = st.lists(ALPHABET, max_size=30).map("".join)
DOCUMENT = st.lists(LINE, min_size=1, max_size=12).map("\n".join)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENT)
def test_pieces_add_up_to_the_whole(name, document):
    counter = TokenCounter(name)
    whole = len(load_named_encoding(name).encode_ordinary(document))
    assert counter.count_document(document) == whole
    assert counter.count_document(document) == whole  # the remembered pieces too


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize(
    "document",
    [
        "- [a] price up.\n/usr/bin\n- [b] x",  # "/" after punctuation and newline (o200k)
        "end with space \n- next",
        "blank\n\n\n- after blank lines\n",
        "tab\t\n\tindented line\n  two spaces\n",
        "it's\n'll go\n's\n",
        "digits 1234\n5678\n",
        "\n",
        "",
        "crlf\r\n- next\r\n",
        "## news-sentiment\n- [news-1] (high, conf 0.80) BTC +4.2% 🚀 …\n## risk-factors\n",
    ],
)
def test_hand_picked_edges(name, document):
    counter = TokenCounter(name)
    assert counter.count_document(document) == len(
        load_named_encoding(name).encode_ordinary(document)
    )


def test_a_byte_counter_counts_bytes(monkeypatch):
    counter = TokenCounter("cl100k_base")
    monkeypatch.setattr(counter, "_encoding", None)
    assert counter.count_document("é\n- x") == len("é\n- x".encode())


# Summaries as shortening sees them: any text, cut into words by render.one_line (every run of
# whitespace one space), with characters Python and the pre-tokenizers may disagree on.
SUMMARY = st.lists(
    st.one_of(ALPHABET, st.sampled_from(["\x1c", "\x85", "\u180e", "\u200b", "\u3000", " "])),
    min_size=1,
    max_size=40,
).map("".join)


@pytest.mark.parametrize("name", (*ENCODINGS, BYTES_ENCODING))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=LINE, summary=SUMMARY)
def test_the_counts_of_a_line_cut_after_each_word_are_exact(name, prefix, summary):
    counter = TokenCounter(name)
    if name == BYTES_ENCODING:  # what the counter is when no encoding loads at all
        counter._encoding, counter.encoding_name = None, BYTES_ENCODING
    words = one_line(summary).split(" ")
    if words == [""]:
        return
    suffix = f"{TRUNCATION_MARKER}\n"
    counts = counter.word_cut_counts(prefix, words, suffix)
    cuts = range(1, len(words) + 1)
    exact = [counter.count(f"{prefix}{' '.join(words[:k])}{suffix}") for k in cuts]
    assert list(counts) == exact
    assert counter.word_cut_counts(prefix, words, suffix) == counts  # remembered
