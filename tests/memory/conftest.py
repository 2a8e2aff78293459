"""Fixtures of the memory-layer tests: a Memory on the real Redis under a unique key prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from context_service.keys import Keyspace
from context_service.memory import Memory, TradeEvent
from context_service.memory.redis_urls import client_from_url
from context_service.settings import Settings

T0 = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        redis_url=None,
        embedded_redis_path=tmp_path / "redis" / "context.db",
        journal_dir=tmp_path / "journal",
        audit_max_entries=100,
        audit_max_age_days=30,
        evidence_ttl_hours={"news-sentiment": 24, "market-data": 2},
    )


@pytest.fixture
def memory(redis_url: str, keyspace: Keyspace, settings: Settings) -> Iterator[Memory]:
    client = client_from_url(redis_url, decode_responses=True)
    yield Memory(client, keyspace=keyspace, settings=settings)
    client.close()


def closed_event(
    trade_id: int,
    profit: float,
    *,
    bot_id: str = "bot-a",
    pair: str = "BTC/USDT",
    close: datetime | None = None,
    open_: datetime | None = None,
    fee: float = 0.1,
    exit_reason: str = "roi",
    confidence: float | None = None,
    **extra: Any,
) -> TradeEvent:
    """A trade_closed event; by default trade N closes N hours after T0, opened 1 h before."""
    close = close or T0 + timedelta(hours=trade_id)
    return TradeEvent(
        bot_id=bot_id,
        trade_id=trade_id,
        order_id="close",
        event="trade_closed",
        pair=pair,
        side="sell",
        time=close,
        price=100.0,
        amount=0.5,
        stake=50.0,
        fee_quote=fee,
        realized_profit=profit,
        open_time=open_ or close - timedelta(hours=1),
        close_time=close,
        exit_reason=exit_reason,
        confidence=confidence,
        **extra,
    )


def fill_event(trade_id: int, kind: str = "entry_fill", **overrides: Any) -> TradeEvent:
    data: dict[str, Any] = {
        "bot_id": "bot-a",
        "trade_id": trade_id,
        "order_id": f"ord-{trade_id}-{kind}",
        "event": kind,
        "pair": "BTC/USDT",
        "side": "buy" if kind == "entry_fill" else "sell",
        "time": T0 + timedelta(hours=trade_id) - timedelta(minutes=30),
        "price": 100.0,
        "amount": 0.5,
        "stake": 50.0,
        "fee_quote": 0.05,
    }
    return TradeEvent(**(data | overrides))


@pytest.fixture
def make_closed() -> Callable[..., TradeEvent]:
    return closed_event
