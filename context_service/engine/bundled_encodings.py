"""OpenAI's ``cl100k_base`` and ``o200k_base`` encodings, shipped with the package.

tiktoken downloads its BPE files on first use, so an offline machine without
``TIKTOKEN_CACHE_DIR`` could only count bytes. The two files every current OpenAI model uses
are kept here, gzipped (``engine/bpe/*.tiktoken.gz``, byte-identical to OpenAI's published files
once decompressed: the sha256 tiktoken itself checks is checked here too), and turned into real
``tiktoken.Encoding`` objects with the same split pattern and special tokens as
``tiktoken_ext.openai_public``. Counts are therefore exact, offline, on any machine.
"""

from __future__ import annotations

import base64
import gzip
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

# sha256 of the decompressed files: the hashes tiktoken_ext.openai_public expects.
EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Split patterns and special tokens as tiktoken_ext.openai_public defines them.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_PARAMETERS: dict[str, tuple[str, dict[str, int]]] = {
    "cl100k_base": (
        _CL100K_PATTERN,
        {
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (_O200K_PATTERN, {ENDOFTEXT: 199999, ENDOFPROMPT: 200018}),
}

BUNDLED = frozenset(_PARAMETERS)


class BundledEncodingError(RuntimeError):
    """A bundled BPE file is missing or not the file OpenAI published."""


def load_ranks(name: str) -> dict[bytes, int]:
    """The mergeable ranks of a bundled encoding, verified against OpenAI's hash."""
    from tiktoken.load import check_hash

    resource = resources.files("context_service.engine").joinpath("bpe", f"{name}.tiktoken.gz")
    try:
        data = gzip.decompress(resource.read_bytes())
    except (OSError, EOFError) as error:
        raise BundledEncodingError(f"bundled {name} is unreadable: {error}") from None
    if not check_hash(data, EXPECTED_SHA256[name]):
        raise BundledEncodingError(f"bundled {name} does not match OpenAI's published file")
    # The .tiktoken format: one "<base64 token> <rank>" per line (tiktoken.load's own parsing).
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


def bundled_encoding(name: str) -> tiktoken.Encoding:
    """``cl100k_base`` or ``o200k_base`` built from the bundled file (no network, no cache)."""
    import tiktoken

    if name not in _PARAMETERS:
        raise BundledEncodingError(f"{name} is not bundled (bundled: {', '.join(sorted(BUNDLED))})")
    pattern, special_tokens = _PARAMETERS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=pattern,
        mergeable_ranks=load_ranks(name),
        special_tokens=special_tokens,
    )
