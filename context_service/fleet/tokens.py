"""Each bot's own sidecar token: kept in its env file, only the hash given to the sidecar.

``write_bot_tokens`` gives every bot whose env file has no ``CTX_BOT_TOKEN`` a fresh random one
(appended to that git-ignored file) and writes ``docker/generated/bot-tokens.json``, the SHA-256
hashes by bot id, which the sidecar reads (``CTX_BOT_TOKENS_FILE``) and re-reads on change. A
bot's token is bound to its bot id: the sidecar refuses it for any other bot (403).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from context_service.credentials import token_hash, token_weakness
from context_service.fleet.envfiles import is_set, read_env_file
from context_service.fleet.model import Fleet

BOT_TOKEN_VAR = "CTX_BOT_TOKEN"
TOKENS_FILE_NAME = "bot-tokens.json"


class BotTokenError(ValueError):
    """A bot's token in its env file is too weak."""


def ensure_bot_token(env_file: Path) -> str | None:
    """The bot's token from ``env_file``, created there when absent; None without the file."""
    if not env_file.is_file():
        return None
    values = read_env_file(env_file)
    if is_set(values, BOT_TOKEN_VAR):
        token = values[BOT_TOKEN_VAR]
        weakness = token_weakness(token)
        if weakness:
            raise BotTokenError(f"{env_file}: {BOT_TOKEN_VAR} is too weak: {weakness}")
        return token
    token = secrets.token_urlsafe(32)
    text = env_file.read_text(encoding="utf-8")
    separator = "" if not text or text.endswith("\n") else "\n"
    with env_file.open("a", encoding="utf-8") as handle:
        handle.write(
            f"{separator}# This bot's own sidecar token (written by the fleet tool).\n"
            f"{BOT_TOKEN_VAR}={token}\n"
        )
    return token


def bot_token_hashes(fleet: Fleet, root: Path) -> dict[str, str]:
    """Ensure every bot with an env file has a token there; their hashes by bot id."""
    hashes: dict[str, str] = {}
    for bot in fleet.bots:
        token = ensure_bot_token(root / bot.env_file)
        if token is not None:
            hashes[bot.id] = token_hash(token)
    return hashes


def hashes_document(hashes: dict[str, str]) -> str:
    """The text of the hashes file (``CTX_BOT_TOKENS_FILE``)."""
    return json.dumps(hashes, indent=2, sort_keys=True) + "\n"


def write_bot_tokens(fleet: Fleet, root: Path, out_dir: Path) -> Path:
    """Ensure every bot has a token and write the hashes file the sidecar reads."""
    hashes = bot_token_hashes(fleet, root)
    path = out_dir / TOKENS_FILE_NAME
    temporary = path.with_suffix(".tmp")
    temporary.write_text(hashes_document(hashes), encoding="utf-8")
    os.chmod(temporary, 0o644)  # hashes only; the sidecar container reads it as another user
    temporary.replace(path)  # atomic: the sidecar never reads half a file
    return path
