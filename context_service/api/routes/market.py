"""Market-wide evidence (news, sentiment...): stored once, read by every bot's synthesis.

The feed poller posts here; one invalid object rejects the whole batch and nothing is written.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from context_service.api.routes.deps import Service
from context_service.api.routes.evidence import MAX_BATCH, invalid_batch
from context_service.knowledge import validate_objects
from context_service.memory.market import MarketEvidenceError

router = APIRouter(tags=["market"])


class MarketEvidenceBatch(BaseModel):
    """Dated evidence objects (``kind`` evidence with ``observed_at``)."""

    model_config = ConfigDict(extra="forbid")

    objects: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class MarketUpsertResult(BaseModel):
    upserted: int
    ids: list[str]


@router.post("/market/evidence", response_model=MarketUpsertResult)
def upsert_market_evidence(
    batch: MarketEvidenceBatch, service: Service
) -> MarketUpsertResult | JSONResponse:
    """Upsert market-wide evidence; 422 (nothing written) for an invalid, undated or
    non-evidence object."""
    objects, problems = validate_objects(batch.objects)
    if problems:
        return invalid_batch(problems, len(batch.objects))
    try:
        stored = service.upsert_market(objects)
        service.components.metrics.record_evidence(stored)  # feed lag gauges
    except MarketEvidenceError as exc:
        return JSONResponse(status_code=422, content={"message": f"{exc}; nothing was written"})
    return MarketUpsertResult(upserted=len(stored), ids=[o.id for o in stored])
