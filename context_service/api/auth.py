"""Bearer-token authentication for every route except health, readiness and metrics.

The token is ``CTX_API_TOKEN``; the comparison takes constant time. With no token configured the
API is open, which :mod:`context_service.api.serve` allows only on a loopback address.
Other routers (e.g. the dashboard's JSON routes) reuse :func:`require_token` as a dependency.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


def token_matches(header: str | None, expected: str) -> bool:
    """True when ``header`` is ``Bearer <expected>`` (constant-time on the token)."""
    scheme, _, supplied = (header or "").partition(" ")
    ok_scheme = scheme.lower() == "bearer"
    ok_token = hmac.compare_digest(supplied.strip().encode(), expected.encode())
    return ok_scheme and ok_token


async def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the configured bearer token."""
    secret = request.app.state.settings.api_token
    if secret is None:
        return
    header = request.headers.get("authorization")
    if header is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=UNAUTHORIZED_HEADERS
        )
    if not token_matches(header, secret.get_secret_value()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong bearer token", headers=UNAUTHORIZED_HEADERS
        )
