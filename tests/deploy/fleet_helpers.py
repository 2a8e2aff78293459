"""Helpers for fleet tests: env files and fleet-file edits."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_env(path: Path, **values: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")


def edit_fleet(root: Path, change) -> None:
    """Load bots.yaml, let ``change(data)`` modify it, write it back."""
    path = root / "bots.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
