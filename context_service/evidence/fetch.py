"""Bounded HTTP for feeds: timeouts, a response size limit and conditional requests.

A feed that hangs, redirects forever or streams a gigabyte costs at most ``timeout_s`` and
``max_bytes``: the body is read in chunks and the request abandoned past the limit. ETag and
Last-Modified of each URL are remembered, so an unchanged feed answers 304 with no body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from context_service import __version__
from context_service.evidence.source import SourceError

DEFAULT_MAX_BYTES = 2_000_000
DEFAULT_TIMEOUT_S = 10.0
USER_AGENT = f"context-service/{__version__} (+feeds)"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 200 answer's body, or ``not_modified`` for a 304."""

    body: bytes
    not_modified: bool = False
    content_type: str = ""


class FeedFetcher:
    """GETs one URL at a time with the limits above; one instance per source."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._owns_client = client is None
        self.client = client or httpx.Client(
            timeout=timeout_s, follow_redirects=True, max_redirects=5
        )
        self.timeout = httpx.Timeout(timeout_s)
        self.max_bytes = max_bytes
        self._validators: dict[str, dict[str, str]] = {}

    def get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        conditional: bool = True,
    ) -> Fetched:
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if conditional:
            sent.update(self._validators.get(url, {}))
        try:
            with self.client.stream(
                "GET", url, params=params, headers=sent, timeout=self.timeout
            ) as response:
                if response.status_code == 304:
                    return Fetched(b"", not_modified=True)
                if response.status_code != 200:
                    raise SourceError(f"http_{response.status_code}", url)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise SourceError("too_large", f"{declared} bytes declared")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise SourceError("too_large", f"over {self.max_bytes} bytes")
                if conditional:
                    self._remember(url, response.headers)
                return Fetched(bytes(body), content_type=response.headers.get("Content-Type", ""))
        except httpx.TimeoutException as exc:
            raise SourceError("timeout", type(exc).__name__) from exc
        except httpx.TooManyRedirects as exc:
            raise SourceError("redirects", url) from exc
        except httpx.HTTPError as exc:
            raise SourceError("unreachable", type(exc).__name__) from exc

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """The JSON document at ``url`` (no conditional request: APIs change every poll);
        ``malformed`` when the body is not JSON or not an object."""
        fetched = self.get(url, conditional=False, **kwargs)
        try:
            document = json.loads(fetched.body)
        except ValueError as exc:
            raise SourceError("malformed", f"not JSON: {exc}"[:200]) from exc
        if not isinstance(document, dict):
            raise SourceError("malformed", "JSON answer is not an object")
        return document

    def _remember(self, url: str, headers: httpx.Headers) -> None:
        validators = {}
        if etag := headers.get("ETag"):
            validators["If-None-Match"] = etag[:256]
        if modified := headers.get("Last-Modified"):
            validators["If-Modified-Since"] = modified[:128]
        self._validators[url] = validators

    def forget(self) -> None:
        """Drop the remembered validators: the next request fetches the full body again (after
        a poll whose items could not be stored, so they are not lost behind a 304)."""
        self._validators.clear()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
