"""cl100k_base and o200k_base ship with the package: exact counts offline, no cache folder."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from importlib import resources

import pytest

from context_service.engine import TokenCounter, tokens
from context_service.engine.bundled_encodings import (
    BundledEncodingError,
    bundled_encoding,
    load_ranks,
)

# Token ids OpenAI's encodings give (the same ids the OpenAI tokenizer page shows).
KNOWN = {
    "cl100k_base": {"hello world": [15339, 1917]},
    "o200k_base": {"hello world": [24912, 2375]},
}


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_bundled_encodings_give_openais_token_ids(name: str) -> None:
    encoding = bundled_encoding(name)
    assert encoding.name == name
    for text, ids in KNOWN[name].items():
        assert encoding.encode_ordinary(text) == ids
    assert encoding.decode(encoding.encode_ordinary("BTC +4.2% 🚀 …")) == "BTC +4.2% 🚀 …"
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [encoding.eot_token]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_bundled_matches_tiktokens_own_encoding_when_a_cache_is_there(name: str) -> None:
    """Where tiktoken itself can load the encoding (a cache folder), both agree token for token."""
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "shared", "tiktoken"
    )
    if not os.path.isdir(cache):
        pytest.skip("no tiktoken cache folder to compare with (the bundled test above still ran)")
    code = (
        "import sys, tiktoken\n"
        f"enc = tiktoken.get_encoding({name!r})\n"
        "text = sys.stdin.read()\n"
        "print(len(enc.encode_ordinary(text)), enc.n_vocab)\n"
    )
    text = "Candidate: ENTRY on BTC/USDT, 1h candle; RSI 71.3, MACD +0.0012 — news: 🚀 ‹‹‹ x\n" * 40
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=text,
        capture_output=True,
        text=True,
        env={**os.environ, "TIKTOKEN_CACHE_DIR": os.path.abspath(cache)},
        check=True,
    ).stdout.split()
    encoding = bundled_encoding(name)
    assert [int(v) for v in out] == [len(encoding.encode_ordinary(text)), encoding.n_vocab]


def test_current_openai_models_count_in_o200k_with_no_cache(fresh_encodings, monkeypatch) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    for model in ("gpt-5", "gpt-5-mini", "o3", "o4-mini", "gpt-4.1-mini", "gpt-4o-mini"):
        assert TokenCounter(model).encoding_name == "o200k_base", model
    assert TokenCounter("gpt-4").encoding_name == "cl100k_base"
    assert TokenCounter("gpt-4.1-mini").count("hello world") == 2


def test_an_unknown_local_model_counts_with_cl100k(fresh_encodings) -> None:
    assert TokenCounter("smollm2-135m-instruct").encoding_name == "cl100k_base"


def test_a_damaged_bundled_file_is_refused_not_trusted(tmp_path, monkeypatch) -> None:
    real = resources.files("context_service.engine").joinpath("bpe", "cl100k_base.tiktoken.gz")
    data = gzip.decompress(real.read_bytes())
    (tmp_path / "bpe").mkdir()
    (tmp_path / "bpe" / "cl100k_base.tiktoken.gz").write_bytes(gzip.compress(data[:-40]))
    monkeypatch.setattr(resources, "files", lambda package: tmp_path)
    with pytest.raises(BundledEncodingError, match="does not match"):
        load_ranks("cl100k_base")
    (tmp_path / "bpe" / "cl100k_base.tiktoken.gz").write_bytes(b"not gzip")
    with pytest.raises(BundledEncodingError, match="unreadable"):
        load_ranks("cl100k_base")


def test_only_the_two_encodings_are_bundled() -> None:
    with pytest.raises(BundledEncodingError, match="not bundled"):
        bundled_encoding("p50k_base")


def test_encodings_are_loaded_once_per_process(fresh_encodings) -> None:
    first = tokens.load_named_encoding("o200k_base")
    assert tokens.load_named_encoding("o200k_base") is first
