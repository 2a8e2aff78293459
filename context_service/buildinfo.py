"""Which build made a result: the strategy version (a commit) and a hash of the config.

Every verdict and every trade record carries both, so a figure can be traced to the code and
the settings that produced it. The version is ``CTX_STRATEGY_VERSION`` (the images get it at
build time from the ``STRATEGY_VERSION`` build argument, CI passes the commit), else the commit
of the git checkout the code runs from (``+dirty`` when it has uncommitted changes), else
``unknown``. The config hash is the first 16 hex digits of the SHA-256 of the Freqtrade config
in canonical JSON, without its secrets and without run-time noise, so the same settings always
give the same hash and no secret can be guessed from it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
SECRET_KEY_RE = re.compile(r"(key|secret|password|token|jwt|passphrase|uid)", re.IGNORECASE)
# Set by Freqtrade or the command line at run time, not by the person who wrote the config.
RUNTIME_KEYS = {"runmode", "original_config", "config_files", "datadir", "user_data_dir"}
REPO = Path(__file__).resolve().parent.parent
UNKNOWN = "unknown"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def strategy_version() -> str:
    """The commit this code was built from (see the module docstring)."""
    configured = os.environ.get("CTX_STRATEGY_VERSION", "")
    if configured and VERSION_RE.fullmatch(configured) and configured != UNKNOWN:
        return configured
    if not (REPO / ".git").exists():
        return UNKNOWN
    commit = _git("rev-parse", "--short=12", "HEAD")
    if not commit or not VERSION_RE.fullmatch(commit):
        return UNKNOWN
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}+dirty" if dirty else commit


def _public(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): _public(v)
            for k, v in value.items()
            if str(k) not in RUNTIME_KEYS and not SECRET_KEY_RE.search(str(k))
        }
    if isinstance(value, list | tuple):
        return [_public(v) for v in value]
    return value


def config_hash(config: dict[str, Any]) -> str:
    """16 hex digits identifying ``config`` without its secrets (see the module docstring)."""
    text = json.dumps(_public(config), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
