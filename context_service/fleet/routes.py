"""HTTP routes of the sub-account lease: ``POST/GET/DELETE /v1/leases/{account}``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from context_service.fleet.lease import (
    MAX_TTL_S,
    MIN_TTL_S,
    InvalidLeaseRequest,
    LeaseManager,
)
from context_service.keys import BOT_ID_RE, InvalidBotId, Keyspace


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holder: str = Field(pattern=BOT_ID_RE.pattern, description="bot id asking for the lease")
    ttl_s: float = Field(default=90, ge=MIN_TTL_S, le=MAX_TTL_S)


def lease_router(
    client: redis.Redis,
    keyspace: Keyspace | None = None,
    auth: Sequence[Callable[..., Any]] = (),
) -> APIRouter:
    """The lease API; ``auth`` are the app's dependencies (bearer token) for every route."""
    leases = LeaseManager(client, keyspace)
    router = APIRouter(
        prefix="/v1/leases", tags=["fleet"], dependencies=[Depends(dep) for dep in auth]
    )

    @router.post("/{account}")
    def acquire(account: str, body: LeaseRequest) -> JSONResponse:
        """Take or renew the lease; 409 with the current holder when another bot has it."""
        try:
            state = leases.acquire(account, body.holder, body.ttl_s)
        except (InvalidLeaseRequest, InvalidBotId) as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return JSONResponse(state.as_json(), status_code=200 if state.held else 409)

    @router.get("/{account}")
    def show(account: str) -> dict:
        try:
            state = leases.current(account)
        except InvalidLeaseRequest as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {**state.as_json(), "held": state.holder is not None}

    @router.delete("/{account}")
    def release(account: str, holder: str = Query(pattern=BOT_ID_RE.pattern)) -> dict:
        """Release the lease if ``holder`` owns it (a no-op otherwise)."""
        try:
            released = leases.release(account, holder)
        except (InvalidLeaseRequest, InvalidBotId) as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"account": account, "released": released}

    return router
