"""Shared route dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from context_service.keys import validate_bot_id
from context_service.service import ContextService


async def get_service(request: Request) -> ContextService:
    return request.app.state.service


async def bot_path(bot_id: str) -> str:
    """A ``{bot_id}`` path parameter, validated (422 with the rule when invalid)."""
    return validate_bot_id(bot_id)


Service = Annotated[ContextService, Depends(get_service)]
BotId = Annotated[str, Depends(bot_path)]
