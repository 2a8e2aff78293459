"""Token counting: exact with tiktoken, and a byte-count fallback that keeps the budget."""

from __future__ import annotations

import logging

import pytest

from context_service.engine import ContextEngine, TokenCounter, tokens
from context_service.engine.samples import T0, mixed_corpus


def _break_tiktoken(monkeypatch: pytest.MonkeyPatch, keep: str | None = None) -> None:
    """Make every encoding but ``keep`` fail to load (a damaged install, a model whose
    encoding is neither bundled nor cached on an offline machine)."""
    real_load = tokens.load_named_encoding

    def refuse(name: str):
        if name == keep:
            return real_load(name)
        raise ConnectionError(f"cannot download {name}")

    monkeypatch.setattr(tokens, "load_named_encoding", refuse)


def test_counts_match_tiktoken_exactly(cl100k, fresh_encodings, monkeypatch):
    _break_tiktoken(monkeypatch, keep="cl100k_base")
    counter = TokenCounter("gpt-4.1-mini")
    text = "- [news-1] (high, conf 0.80) BTC +4.2% 🚀 <|endoftext|> …\n"
    assert counter.encoding_name == "cl100k_base"
    assert counter.count(text) == len(cl100k.encode_ordinary(text))
    assert counter.count_many([text] * 100) == [counter.count(text)] * 100


def test_falls_back_to_cl100k_and_says_so(cl100k, fresh_encodings, monkeypatch, caplog):
    _break_tiktoken(monkeypatch, keep="cl100k_base")
    with caplog.at_level(logging.WARNING, logger="context_service.engine.tokens"):
        engine = ContextEngine(model="gpt-4.1-mini")
    assert engine.token_counter.encoding_name == "cl100k_base"
    assert "counting tokens with cl100k_base instead" in caplog.text


def test_without_any_encoding_bytes_are_counted_and_the_budget_holds(
    fresh_encodings, monkeypatch, caplog
):
    _break_tiktoken(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="context_service.engine.tokens"):
        engine = ContextEngine()
    assert "counting UTF-8 bytes" in caplog.text
    engine.upsert_many(mixed_corpus(500), now=T0)
    result = engine.synthesize(1500, now=T0)
    assert result.manifest.encoding == "utf8-bytes"
    size = len(result.text.encode("utf-8"))
    assert 1500 * 0.95 <= size <= 1500
    assert result.manifest.total_tokens == size


def test_bytes_are_an_upper_bound_of_tokens(cl100k):
    for obj in mixed_corpus(300):
        assert len(cl100k.encode_ordinary(obj.summary)) <= len(obj.summary.encode("utf-8"))


def test_tokens_are_counted_once_per_upsert_not_per_synthesis(monkeypatch):
    engine = ContextEngine()
    calls = []
    original = TokenCounter.count_many

    def counting(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(TokenCounter, "count_many", counting)
    engine.upsert_many(mixed_corpus(200), now=T0)
    assert calls == [200]
    for _ in range(3):
        engine.synthesize(1500, now=T0)
    assert calls == [200]  # synthesis reused the cached counts
    engine.upsert_many(mixed_corpus(200)[:5], now=T0)  # same content: counts kept
    engine.synthesize(1500, now=T0)
    assert calls == [200]


def test_another_model_is_counted_lazily_in_its_own_encoding(fresh_encodings, monkeypatch):
    _break_tiktoken(monkeypatch)  # the second model has no encoding: bytes
    engine = ContextEngine(model="gpt-4.1-mini")
    engine.upsert_many(mixed_corpus(100), now=T0)
    result = engine.synthesize(700, now=T0, model="some-local-model")
    assert result.manifest.model == "some-local-model"
    assert len(result.text.encode()) <= 700


class _JoinPenaltyCounter(TokenCounter):
    """A counter for which joined text costs more than its pieces (1 extra per 3 lines)."""

    def count(self, text: str) -> int:
        return len(text.encode("utf-8")) + text.count("\n") // 3


def test_the_final_text_is_verified_even_when_pieces_do_not_add_up(fresh_encodings, monkeypatch):
    """Token counts of joined pieces are not always their sum: the final count decides."""
    _break_tiktoken(monkeypatch)
    engine = ContextEngine()
    engine.upsert_many(mixed_corpus(300), now=T0)
    additive = engine.synthesize(1500, now=T0)
    odd = _JoinPenaltyCounter()
    monkeypatch.setattr(engine, "counter_for", lambda model: odd)
    result = engine.synthesize(1500, now=T0)
    assert odd.count(result.text) == result.manifest.total_tokens <= 1500
    assert result.manifest.total_tokens >= 1500 * 0.9
    # The line-by-line estimate admitted as many lines as before; the final check removed some.
    assert len(result.manifest.included_ids()) < len(additive.manifest.included_ids())
