"""Builders shared by the sidecar tests: settings, verdict requests, OpenAI responses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
import respx

from context_service.keys import Keyspace
from context_service.llm.client import LLMClient
from context_service.service import ContextService
from context_service.settings import Settings
from context_service.verdicts.models import TASnapshot, VerdictRequest

LLM_URL = "http://llm.test/v1"
CHAT_URL = f"{LLM_URL}/chat/completions"
T0 = datetime(2022, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=90)  # the services' clock: live requests near T0 see their candle


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: nothing read from the environment or a .env file."""
    base: dict[str, Any] = {
        "llm_enabled": True,
        "llm_base_url": LLM_URL,
        "llm_timeout_s": 2.0,
        "verdict_provider": "replay",
        "rate_bot_per_minute": 1000,
        "rate_global_per_minute": 1000,
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


def make_request(
    i: int = 0,
    bot_id: str = "bot-1",
    pair: str = "BTC/USDT",
    rsi: float = 55.0,
    as_of: bool = False,
    candidate: str = "entry",
) -> VerdictRequest:
    """A request for the ``i``-th hourly candle after T0 (bullish indicators by default)."""
    moment = T0 + timedelta(hours=i)
    close = 100.0 + i
    snapshot = TASnapshot(
        pair=pair,
        timeframe="1h",
        candle_time=moment,
        close=close,
        rsi=rsi,
        macd=1.0,
        macd_signal=0.5,
        macd_hist=0.5,
        ema_fast=close * 0.99,
        ema_slow=close * 0.97,
        ema_trend=close * 0.9,
        atr=close * 0.01,
        bb_lower=close * 0.95,
        bb_middle=close,
        bb_upper=close * 1.05,
        volume=1000.0,
    )
    return VerdictRequest(
        bot_id=bot_id,
        pair=pair,
        candle_time=moment,
        snapshot=snapshot,
        as_of=moment if as_of else None,
        candidate=candidate,  # type: ignore[arg-type]
    )


def tool_call(name: str, arguments: str | dict, call_id: str = "call_1") -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def verdict_call(
    action: str = "buy", confidence: float = 0.8, evidence_ids: list[str] | None = None
) -> dict[str, Any]:
    return tool_call(
        "submit_verdict",
        {
            "action": action,
            "confidence": confidence,
            "rationale": "trend and momentum agree",
            "evidence_ids": evidence_ids if evidence_ids is not None else ["ta:BTC/USDT:1h"],
        },
    )


def completion(
    tool_calls: list[dict[str, Any]] | None = None,
    content: str | None = None,
    prompt_tokens: int = 900,
    completion_tokens: int = 40,
    model: str = "gpt-4.1-mini",
) -> dict[str, Any]:
    """An OpenAI chat.completion body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls" if tool_calls else "stop",
                "message": message,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def ok_response(**kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json=completion([verdict_call(**kwargs)]))


ServiceFactory = Callable[..., ContextService]


@pytest.fixture
def llm_mock() -> Iterator[respx.MockRouter]:
    """Mocks the OpenAI HTTP API; unmatched requests fail the test."""
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def make_service(redis_client: redis.Redis, keyspace: Keyspace) -> Iterator[ServiceFactory]:
    """Builds services on the real Redis under the test's key prefix."""
    made: list[ContextService] = []

    def factory(
        settings: Settings | None = None,
        llm: bool = True,
        clock: Callable[[], datetime] | None = None,
        evidence_store: str = "redis",
        **overrides: Any,
    ) -> ContextService:
        settings = settings or make_settings(**overrides)
        client = LLMClient.from_settings(settings) if llm else None
        if client is not None:
            client.backoff_s = 0.01  # keep retry tests fast
        service = ContextService(
            settings,
            redis_client,
            keyspace,
            llm=client,
            evidence_store=evidence_store,  # type: ignore[arg-type]
            clock=clock or (lambda: NOW),
        )
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close()


def money(value: str) -> Decimal:
    return Decimal(value)
