"""HTTP routes of the sub-account lease: ``POST/GET/DELETE /v1/leases/{account}``.

Included in the sidecar's ``/v1`` router, so the bearer token applies. The strategy posts
``{"holder": bot_id, "ttl_s": 90}`` at start and every loop: 200 while it holds the lease, 409
(with the other holder) when a second bot runs on the same sub-account.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from context_service.api.routes.deps import Service
from context_service.fleet.lease import MAX_TTL_S, MIN_TTL_S, InvalidLeaseRequest
from context_service.keys import InvalidBotId

router = APIRouter(prefix="/leases", tags=["fleet"])


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holder: str = Field(description="bot id asking for the lease (checked by the lease)")
    ttl_s: float = Field(default=90, ge=MIN_TTL_S, le=MAX_TTL_S)


def _bad_request(exc: Exception) -> HTTPException:
    return HTTPException(status_code=422, detail=str(exc))


@router.post("/{account}")
def acquire(account: str, body: LeaseRequest, service: Service) -> JSONResponse:
    """Take or renew the lease; 409 with the current holder when another bot has it."""
    try:
        state = service.acquire_lease(account, body.holder, body.ttl_s)
    except (InvalidLeaseRequest, InvalidBotId) as exc:
        raise _bad_request(exc) from None
    return JSONResponse(state.as_json(), status_code=200 if state.held else 409)


@router.get("/{account}")
def show(account: str, service: Service) -> dict:
    """Who holds the lease of ``account`` (``held`` false when nobody does)."""
    try:
        state = service.lease(account)
    except InvalidLeaseRequest as exc:
        raise _bad_request(exc) from None
    return {**state.as_json(), "held": state.holder is not None}


@router.delete("/{account}")
def release(account: str, service: Service, holder: str = Query()) -> dict:
    """Release the lease if ``holder`` owns it (a no-op otherwise)."""
    try:
        released = service.release_lease(account, holder)
    except (InvalidLeaseRequest, InvalidBotId) as exc:
        raise _bad_request(exc) from None
    return {"account": account, "released": released}
