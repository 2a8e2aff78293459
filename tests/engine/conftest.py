"""Engine test fixtures: an engine, and an independent reference token counter."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import tiktoken

from context_service.engine import ContextEngine
from context_service.engine.bundled_encodings import bundled_encoding
from context_service.engine.tokens import (
    BYTES_ENCODING,
    load_named_encoding,
    reset_encoding_cache,
)


@pytest.fixture
def engine() -> ContextEngine:
    return ContextEngine()


@pytest.fixture
def reference_count(engine: ContextEngine) -> Callable[[str], int]:
    """Counts tokens of a text independently of the engine, in the engine's encoding."""
    name = engine.token_counter.encoding_name
    if name == BYTES_ENCODING:
        return lambda text: len(text.encode("utf-8"))
    encoding = load_named_encoding(name)
    return lambda text: len(encoding.encode_ordinary(text))


@pytest.fixture
def cl100k() -> tiktoken.Encoding:
    """The real cl100k_base encoding, built from the bundled file (works offline)."""
    return bundled_encoding("cl100k_base")


@pytest.fixture
def fresh_encodings() -> Iterator[None]:
    """Forget loaded encodings before and after a test that breaks tiktoken loading."""
    reset_encoding_cache()
    yield
    reset_encoding_cache()
