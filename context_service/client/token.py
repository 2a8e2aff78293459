"""The bot's sidecar token from a file, re-read when it changes: tokens rotate without a restart.

``CTX_BOT_TOKEN_FILE`` names a file holding the bot's token (one line). The token is read again
when the file changes, and once more when the sidecar answers 401 (the file may have been
replaced just now), so an operator rotates a bot's token by writing the new one into the file
after the sidecar accepts it (docs/security.md), with no restart of the bot.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import httpx


class FileTokenAuth(httpx.Auth):
    requires_request_body = True  # a request refused with 401 is sent again with the new token

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._token = ""
        self._read()

    def _read(self) -> bool:
        """Re-read the file if it changed; True when the token changed."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return False
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        token = self.path.read_text(encoding="utf-8").strip()
        changed = token != self._token
        self._token = token
        return changed

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._read()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401 and self._read():
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request
