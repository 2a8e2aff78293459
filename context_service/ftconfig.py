"""Freqtrade config files, read the way Freqtrade reads them.

Freqtrade accepts comments and trailing commas in its JSON configs; reading one with plain
``json`` would refuse a config the bot itself runs with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ConfigFileError(ValueError):
    """A config file that is missing or not valid (Freqtrade's own message)."""


def read_config_file(path: Path) -> dict[str, Any]:
    from freqtrade.configuration.load_config import load_config_file
    from freqtrade.exceptions import OperationalException

    try:
        config = load_config_file(str(path))
    except OperationalException as exc:
        raise ConfigFileError(f"config {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigFileError(f"config {path}: expected a JSON object at the top level")
    return config
