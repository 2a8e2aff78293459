"""Who a bearer token belongs to: the operator, one bot, or nobody (the sidecar's credentials).

* The operator token is ``CTX_API_TOKEN``: it reaches every route, including the fleet-wide ones
  (usage of all bots, alerts, dashboard data, reopening caps, lease administration).
* Each bot has its own token, bound to its bot id. The sidecar stores only SHA-256 hashes:
  ``CTX_BOT_TOKEN_HASHES`` (JSON ``{"bot-id": "<hex>" | ["<hex>", ...]}``) and/or the file
  ``CTX_BOT_TOKENS_FILE`` (the same JSON, written by the fleet generator). The file is re-read
  when it changes, so tokens are rotated without restarting anything: add the new hash next to
  the old one, hand the bot its new token, then drop the old hash (docs/security.md).
* Without bot tokens, ``CTX_API_TOKEN`` is shared by the bots as before (every bot acts as the
  operator); the sidecar logs a warning at start.

Tokens must be strong (:func:`token_weakness`): at least 128 bits by a character-class estimate
and not repetitive.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from context_service.keys import validate_bot_id
from context_service.settings import Settings

log = logging.getLogger("context_service.auth")

RELOAD_CHECK_S = 1.0
MIN_TOKEN_BITS = 128
MIN_BITS_PER_CHAR = 3.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the operator, one bot, or anyone (tokenless loopback mode)."""

    role: Literal["operator", "bot", "open"]
    bot_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.role != "bot"

    def may_act_for(self, bot_id: str) -> bool:
        return self.role != "bot" or self.bot_id == bot_id


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_weakness(token: str) -> str | None:
    """Why ``token`` is too weak to guard the API, or None when it is strong enough."""
    if not token or len(set(token)) == 1:
        return "a token must not be empty or one repeated character"
    alphabet = 0
    alphabet += 26 if any(c.islower() for c in token) else 0
    alphabet += 26 if any(c.isupper() for c in token) else 0
    alphabet += 10 if any(c.isdigit() for c in token) else 0
    alphabet += 32 if any(not c.isalnum() for c in token) else 0
    bits = len(token) * math.log2(max(alphabet, 2))
    counts = Counter(token)
    per_char = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    if bits < MIN_TOKEN_BITS or per_char < MIN_BITS_PER_CHAR:
        return (
            f"a token needs at least {MIN_TOKEN_BITS} bits of entropy (about {len(token)} "
            f"characters give {bits:.0f}, {per_char:.1f} bits per character); generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return None


def parse_hashes(data: object, source: str) -> dict[str, str]:
    """``{"bot-id": hex | [hex, ...]}`` -> ``{hex: bot-id}``; errors name the source."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object of bot id -> token hash(es)")
    found: dict[str, str] = {}
    for bot_id, value in data.items():
        validate_bot_id(bot_id)
        hashes = value if isinstance(value, list) else [value]
        for digest in hashes:
            if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
                raise ValueError(f"{source}: token hash of {bot_id} must be 64 hex characters")
            if found.setdefault(digest.lower(), bot_id) != bot_id:
                raise ValueError(f"{source}: one token hash is given to two bots")
    return found


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


class TokenBook:
    """Resolves bearer tokens to principals; re-reads the tokens file when it changes."""

    def __init__(self, settings: Settings, fleet_bots: set[str] | None = None) -> None:
        self._operator = settings.api_token.get_secret_value() if settings.api_token else None
        self._static = parse_hashes(settings.bot_token_hashes, "CTX_BOT_TOKEN_HASHES")
        self._file = settings.bot_tokens_file
        self._from_file: dict[str, str] = {}
        self._file_stamp: tuple[float, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._fleet_bots = set(fleet_bots or ())  # the fleet file's bots are known too
        self._reload(force=True)

    @property
    def open(self) -> bool:
        """No token at all: the API is open (allowed on loopback only, see serve.py)."""
        return self._operator is None and not self._static and not self._from_file

    @property
    def per_bot(self) -> bool:
        self._reload()
        return bool(self._static or self._from_file)

    def known_bots(self) -> set[str]:
        """Bots with a token, and the bots of the fleet file: with per-bot tokens, only these
        get state in the sidecar (any other id is refused before it costs memory)."""
        self._reload()
        return {*self._static.values(), *self._from_file.values(), *self._fleet_bots}

    def is_known(self, bot_id: str) -> bool:
        return not self.per_bot or bot_id in self.known_bots()

    def identify(self, token: str) -> Principal | None:
        if self._operator is not None and hmac.compare_digest(
            token.encode(), self._operator.encode()
        ):
            return Principal("operator")
        self._reload()
        digest = token_hash(token)
        bot_id = self._static.get(digest) or self._from_file.get(digest)
        return None if bot_id is None else Principal("bot", bot_id)

    def _reload(self, force: bool = False) -> None:
        if self._file is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_CHECK_S:
            return
        with self._lock:
            self._checked = now
            try:
                stat = os.stat(self._file)
            except OSError as exc:
                if force:
                    raise ValueError(f"CTX_BOT_TOKENS_FILE {self._file}: {exc.strerror}") from None
                log.error(
                    "bot tokens file %s unreadable (%s); keeping the last one", self._file, exc
                )
                return
            stamp = (stat.st_mtime, stat.st_size)
            if stamp == self._file_stamp:
                return
            try:
                data = json.loads(Path(self._file).read_text(encoding="utf-8"))
                self._from_file = parse_hashes(data, str(self._file))
            except (OSError, ValueError) as exc:
                if force:
                    raise ValueError(str(exc)) from None
                log.error("bot tokens file %s not reloaded: %s", self._file, exc)
                return
            self._file_stamp = stamp
            if not force:
                log.warning("bot tokens reloaded from %s", self._file)
