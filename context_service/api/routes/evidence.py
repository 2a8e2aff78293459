"""Knowledge objects in batches: validated all together, written all together or not at all."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from context_service.api.auth import authorize
from context_service.api.routes.deps import Service
from context_service.keys import validate_bot_id
from context_service.knowledge import validate_objects

router = APIRouter(tags=["evidence"])
MAX_BATCH = 5_000


class EvidenceBatch(BaseModel):
    """Objects of any kind (evidence, goal, constraint, insight; by their ``kind`` field)."""

    model_config = ConfigDict(extra="forbid")

    bot_id: str
    objects: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)

    _bot = field_validator("bot_id")(lambda cls, v: validate_bot_id(v))


class UpsertResult(BaseModel):
    bot_id: str
    upserted: int
    ids: list[str]


def invalid_batch(problems: list[dict[str, Any]], total: int) -> JSONResponse:
    """The 422 of a batch with invalid objects: how many, the first one's error, and all."""
    first = problems[0]
    return JSONResponse(
        status_code=422,
        content={
            "message": f"{len(problems)} of {total} objects are invalid; "
            f"nothing was written. First: objects[{first['index']}] "
            f"(id {first['id']!r}): {first['errors'][0]}",
            "detail": problems,
        },
    )


@router.post("/evidence", response_model=UpsertResult)
def upsert_evidence(
    batch: EvidenceBatch, service: Service, request: Request
) -> UpsertResult | JSONResponse:
    """Upsert a batch; one invalid object rejects the whole batch (422) and nothing is stored."""
    authorize(request, batch.bot_id)
    objects, problems = validate_objects(batch.objects)
    if problems:
        return invalid_batch(problems, len(batch.objects))
    stored = service.upsert(batch.bot_id, objects)
    service.components.metrics.record_evidence(stored)  # feed lag gauges
    return UpsertResult(bot_id=batch.bot_id, upserted=len(stored), ids=[o.id for o in stored])
