"""Builders shared by the strategy tests: TA rows, snapshots, verdict JSON, Freqtrade orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freqtrade.persistence import Order

from context_service.verdicts.models import Action, TASnapshot, Verdict, VerdictSource

CANDLE = datetime(2022, 3, 1, 10, 0, tzinfo=UTC)
PAIR = "BTC/USDT"


def ta_row(close: float = 40_000.0) -> dict[str, float]:
    return {
        "close": close,
        "rsi": 55.0,
        "macd": 12.0,
        "macdsignal": 8.0,
        "macdhist": 4.0,
        "ema_fast": close * 0.995,
        "ema_slow": close * 0.99,
        "ema_trend": close * 0.97,
        "atr": close * 0.01,
        "bb_lower": close * 0.96,
        "bb_middle": close,
        "bb_upper": close * 1.04,
        "volume": 120.0,
        "volume_mean": 100.0,
    }


def snapshot(pair: str = PAIR, candle: datetime = CANDLE) -> TASnapshot:
    return TASnapshot(pair=pair, timeframe="1h", candle_time=candle, **_fields(ta_row()))


def _fields(row: dict[str, float]) -> dict[str, float]:
    rename = {"macdsignal": "macd_signal", "macdhist": "macd_hist"}
    return {rename.get(k, k): v for k, v in row.items()}


def verdict(
    action: Action = Action.buy,
    confidence: float = 0.8,
    *,
    pair: str = PAIR,
    candle: datetime = CANDLE,
    candidate: str = "entry",
    bot_id: str = "bot-1",
) -> Verdict:
    return Verdict(
        verdict_id=f"v-{pair}-{candle:%Y%m%d%H}-{candidate}",
        bot_id=bot_id,
        pair=pair,
        candle_time=candle,
        candidate=candidate,
        action=action,
        confidence=confidence,
        rationale="test",
        source=VerdictSource.rules,
        context_tokens=120,
    )


def verdict_json(**kwargs: Any) -> dict[str, Any]:
    return verdict(**kwargs).model_dump(mode="json")


NEXT_CANDLE = CANDLE + timedelta(hours=1)


def make_order(
    *,
    pair: str,
    side: str,
    amount: float,
    filled: float,
    price: float,
    when: datetime,
    order_id: str,
    trade_id: int | None = None,
) -> Order:
    """A Freqtrade limit order, ``filled`` of ``amount`` executed at ``price``."""
    return Order(
        ft_trade_id=trade_id,
        ft_order_side=side,
        ft_pair=pair,
        ft_is_open=filled < amount,
        ft_amount=amount,
        ft_price=price,
        order_id=order_id,
        status="open" if filled < amount else "closed",
        symbol=pair,
        order_type="limit",
        side=side,
        price=price,
        average=price,
        amount=amount,
        filled=filled,
        remaining=amount - filled,
        cost=price * filled,
        order_date=when,
    )
