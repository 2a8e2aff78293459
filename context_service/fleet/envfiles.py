"""Reading docker-style env files without ever printing their values.

Parsed with python-dotenv, which reads them the way Docker Compose does: ``export`` prefixes,
single and double quotes, and `` # comment`` after an unquoted value (so
``CTX_API_TOKEN=change-me # fill me`` is ``change-me``). ``KEY`` alone (no ``=``) means unset.
Template placeholders (``change-me``, ``<your key>``, ``fill me`` ...) count as unset.
"""

from __future__ import annotations

import re
from pathlib import Path

from dotenv.parser import parse_stream


class EnvFileError(ValueError):
    """An env file line that docker compose would not accept."""


# Words that only a template or a reminder puts into a value; real secrets never hold them.
_PLACEHOLDER = re.compile(
    r"change[-_ ]?me|fill[-_ ]?(me|in)|replace[-_ ]?me|your[-_ ]|placeholder|^x{3,}$|^<.*>$"
    r"|^todo$|^tbd$|^none$|^null$",
    re.IGNORECASE,
)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY -> value`` of an env file; a line compose would refuse raises with its number."""
    values: dict[str, str] = {}
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                # Only the line number: the line itself may hold a secret.
                raise EnvFileError(f"{path}:{binding.original.line}: expected KEY=value")
            if binding.key is None or binding.value is None:
                continue  # a comment, a blank line, or a bare KEY
            values[binding.key] = binding.value
    return values


def is_placeholder(value: str) -> bool:
    return not value.strip() or bool(_PLACEHOLDER.search(value.strip()))


def is_set(values: dict[str, str], key: str) -> bool:
    """True when ``key`` has a real value (not empty, not a template placeholder)."""
    return key in values and not is_placeholder(values[key])
