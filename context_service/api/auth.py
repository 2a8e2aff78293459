"""Authentication before anything is read, and authorization by bot id.

:class:`Authenticate` is a pure ASGI middleware: it resolves the bearer token to a
:class:`~context_service.credentials.Principal` from the headers alone, so an unauthenticated
request is refused (401) before its body is read or parsed. It also decides the routes that
are not about one bot:

* ``/v1/bots/{bot_id}/...`` and ``/v1/llm/usage?bot_id=``: a bot token only for its own id (403);
* fleet-wide routes (alerts, dashboard data, usage of every bot, reopening caps, market-wide
  evidence that every bot reads, the feeds' status): the operator;
* ``/metrics``, ``/docs``, ``/redoc``, ``/openapi.json``: per ``CTX_METRICS_ACCESS``: ``loopback``
  (default: open to loopback clients, the operator token otherwise), ``token`` or ``open``;
* ``/healthz``, ``/readyz`` and the ``/dashboard`` page and assets (data under ``/v1``): open.

Routes whose bot id is in the body call :func:`authorize` once it is parsed. With per-bot
tokens, bot ids the sidecar does not know (no token, not in the fleet file) are 404: only known
bots get state. With no token
configured at all (loopback only, see serve.py) the Host header must name a loopback host, so a
web page cannot reach the API through DNS rebinding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs

from fastapi import HTTPException, Request, status
from starlette.types import ASGIApp, Receive, Scope, Send

from context_service.credentials import Principal, TokenBook

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}
OPERATOR_PREFIXES = ("/v1/alerts", "/v1/dashboard/", "/v1/llm/caps/", "/v1/market/", "/v1/feeds")
DOC_PATHS = ("/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")
OPEN_PATHS = ("/healthz", "/readyz", "/dashboard")
BOT_PATH = re.compile(r"/v1/bots/([^/]*)(/.*)?")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
LOOPBACK_CLIENTS = frozenset({"127.0.0.1", "::1"})


class Authenticate:
    """Resolve the principal from the headers; refuse what it may not reach."""

    def __init__(
        self, app: ASGIApp, book_of: Callable[[], TokenBook], metrics_access: str = "loopback"
    ) -> None:
        self.app = app
        self.book_of = book_of
        self.metrics_access = metrics_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal, principal = self._check(scope)
        if refusal is not None:
            code, message = refusal
            await _send_json(send, code, message)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> tuple[tuple[int, str] | None, Principal | None]:
        book = self.book_of()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        if book.open:
            host = _host_name(headers.get("host", ""))
            if host not in LOOPBACK_HOSTS:
                return (403, f"host {host!r} not allowed without an API token"), None
            return None, Principal("open")
        if path in OPEN_PATHS or path.startswith("/dashboard/"):
            return None, None
        if path in DOC_PATHS or path.startswith("/docs/"):
            client = (scope.get("client") or ("", 0))[0]
            if self.metrics_access == "open" or (
                self.metrics_access == "loopback" and client in LOOPBACK_CLIENTS
            ):
                return None, None
        principal = _principal(book, headers.get("authorization"))
        if isinstance(principal, tuple):
            return principal, None
        match = BOT_PATH.fullmatch(path)
        if match and not book.is_known(match.group(1)):
            return (404, unknown_bot(match.group(1))), principal
        if principal.role == "bot":
            problem = _bot_may_not(principal, path, scope.get("query_string", b""))
            if problem:
                return (403, problem), principal
        return None, principal


def _principal(book: TokenBook, header: str | None) -> Principal | tuple[int, str]:
    if header is None:
        return 401, "missing bearer token"
    scheme, _, supplied = header.partition(" ")
    if scheme.lower() != "bearer" or not supplied.strip():
        return 401, "wrong bearer token"
    found = book.identify(supplied.strip())
    return (401, "wrong bearer token") if found is None else found


def _bot_may_not(principal: Principal, path: str, query: bytes) -> str | None:
    """Why a bot token may not reach ``path``, or None."""
    if path in DOC_PATHS or not path.startswith("/v1/") or path.startswith(OPERATOR_PREFIXES):
        return f"{path} needs the operator token"
    match = BOT_PATH.fullmatch(path)
    if match and match.group(1) != principal.bot_id:
        return f"this token belongs to bot {principal.bot_id}, not {match.group(1)!r}"
    if path == "/v1/llm/usage":
        asked = parse_qs(query.decode("latin-1")).get("bot_id", [None])[-1]
        if asked != principal.bot_id:
            return f"a bot token reads only its own usage (bot_id={principal.bot_id})"
    return None


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _send_json(send: Send, code: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def principal_of(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if principal is None:  # a route reached without the middleware (it is always installed)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=UNAUTHORIZED_HEADERS
        )
    return principal


async def require_token(request: Request) -> None:
    """Router dependency: the request was authenticated (defence in depth; see Authenticate)."""
    principal_of(request)


def authorize(request: Request, bot_id: str) -> None:
    """403 unless the caller may act for ``bot_id`` (routes with the bot id in the body); 404
    for a bot the sidecar does not know (with per-bot tokens, only known bots get state)."""
    principal = principal_of(request)
    if not principal.may_act_for(bot_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this token belongs to bot {principal.bot_id}, not {bot_id!r}",
        )
    if not request.app.state.tokens.is_known(bot_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, unknown_bot(bot_id))


def unknown_bot(bot_id: str) -> str:
    return (f"unknown bot {bot_id!r}: give it a token (the fleet file, CTX_BOT_TOKENS_FILE) first")[
        :200
    ]
