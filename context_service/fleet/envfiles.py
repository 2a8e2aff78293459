"""Reading docker-style env files (``KEY=value`` lines) without ever printing their values."""

from __future__ import annotations

from pathlib import Path

PLACEHOLDERS = frozenset({"", "change-me", "changeme", "xxx", "your-key-here"})


class EnvFileError(ValueError):
    """An env file line that docker compose would not accept."""


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines; ``#`` comments and blank lines are skipped."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or " " in key.strip():
            # Only the line number: the line itself may hold a secret.
            raise EnvFileError(f"{path}:{number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def is_set(values: dict[str, str], key: str) -> bool:
    """True when ``key`` has a real value (not empty, not a template placeholder)."""
    return values.get(key, "").strip().lower() not in PLACEHOLDERS
