"""HTTP routes of the sub-account lease: ``POST/GET/DELETE /v1/leases/{account}``.

Included in the sidecar's ``/v1`` router, so the bearer token applies. The strategy posts
``{"holder": bot_id, "ttl_s": 90}`` at start and every loop: 200 while it holds the lease, 409
(with the other holder) when a second bot runs on the same sub-account.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from context_service.api.auth import authorize, principal_of
from context_service.api.routes.deps import Service
from context_service.fleet.lease import MAX_TTL_S, MIN_TTL_S, InvalidLeaseRequest
from context_service.fleet.model import FleetFileError, load_fleet
from context_service.keys import InvalidBotId

router = APIRouter(prefix="/leases", tags=["fleet"])


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holder: str = Field(description="bot id asking for the lease (checked by the lease)")
    ttl_s: float = Field(default=90, ge=MIN_TTL_S, le=MAX_TTL_S)


def _bad_request(exc: Exception) -> HTTPException:
    return HTTPException(status_code=422, detail=str(exc))


def _authorize(request: Request, account: str, holder: str) -> None:
    """A bot token takes, renews and releases leases only as itself, and (when the sidecar
    knows the fleet file) only on its own sub-account; the operator administers any lease."""
    authorize(request, holder)
    principal = principal_of(request)
    fleet_file = request.app.state.settings.fleet_file
    if principal.role != "bot" or fleet_file is None:
        return
    try:
        own = load_fleet(fleet_file).bot(holder).account
    except FleetFileError:
        own = None
    if own != account:
        raise HTTPException(403, f"bot {holder} may not hold the lease of account {account!r}")


@router.post("/{account}")
def acquire(account: str, body: LeaseRequest, service: Service, request: Request) -> JSONResponse:
    """Take or renew the lease; 409 with the current holder when another bot has it."""
    _authorize(request, account, body.holder)
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
def release(account: str, service: Service, request: Request, holder: str = Query()) -> dict:
    """Release the lease if ``holder`` owns it (a no-op otherwise)."""
    _authorize(request, account, holder)
    try:
        released = service.release_lease(account, holder)
    except (InvalidLeaseRequest, InvalidBotId) as exc:
        raise _bad_request(exc) from None
    return {"account": account, "released": released}
