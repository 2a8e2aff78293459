"""Context synthesis: the bot's budgeted working memory and its manifest."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from context_service.api.auth import authorize
from context_service.api.routes.deps import Service
from context_service.bounds import EventTime
from context_service.keys import validate_bot_id

router = APIRouter(tags=["context"])


class ContextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_id: str
    budget_tokens: int | None = Field(default=None, ge=50, le=128_000)
    as_of: EventTime | None = Field(
        default=None, description="Point in time: only what was known then (backtests, audits)."
    )
    manifest_entries: Literal["all", "included", "none"] = Field(
        default="included",
        description="Which manifest entries to return: every candidate with its score and drop "
        "reason (large for big stores), only the included ones, or none (lane totals only).",
    )

    _bot = field_validator("bot_id")(lambda cls, v: validate_bot_id(v))


class ContextResponse(BaseModel):
    text: str
    manifest: dict[str, Any]


@router.post("/context", response_model=ContextResponse)
def synthesize(body: ContextRequest, service: Service, request: Request) -> ContextResponse:
    """Synthesize the working memory within the token budget, as of a time if given."""
    authorize(request, body.bot_id)
    synthesis = service.synthesize(body.bot_id, body.budget_tokens, body.as_of)
    manifest = synthesis.manifest.model_dump(mode="json", exclude={"entries"})
    if body.manifest_entries == "all":
        entries = synthesis.manifest.entries
    elif body.manifest_entries == "included":
        entries = synthesis.manifest.included_entries()
    else:
        entries = None
    if entries is not None:
        manifest["entries"] = [e.model_dump(mode="json") for e in entries]
    return ContextResponse(text=synthesis.text, manifest=manifest)
