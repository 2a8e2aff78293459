"""Sample knowledge objects of typical shape: for tests, the benchmark and demos."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from context_service.models import Constraint, Evidence, Goal, Insight

T0 = datetime(2024, 5, 3, 14, 0, tzinfo=UTC)
PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT", "MATIC/USDT")
_SUBJECTS = ("Bitcoin", "Ether", "Solana", "XRP", "Dogecoin", "Polygon", "KuCoin", "Binance")
_VERBS = ("rallies", "slides", "consolidates", "breaks out", "faces outflows", "sees inflows")
_CONTEXT = (
    "after ETF headlines",
    "as funding rates turn negative",
    "on heavy spot volume",
    "while open interest climbs",
    "amid regulatory uncertainty",
    "after a large exchange withdrawal",
    "as miners sell reserves",
    "ahead of the FOMC decision",
)


def news(index: int, rng: random.Random | None = None, **overrides) -> Evidence:
    """One line of news, like a headline feed delivers it."""
    rng = rng or random.Random(index)
    summary = (
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.uniform(0.5, 9.5):.1f}% "
        f"{rng.choice(_CONTEXT)} (story {index})"
    )
    data = {
        "id": f"news-{index}",
        "summary": summary,
        "provenance": {"source": "newswire"},
        "tags": {"category": "news"},
        "severity": rng.choice(["low", "medium", "high", "critical"]),
        "confidence": round(rng.uniform(0.3, 0.95), 2),
        "observed_at": T0 - timedelta(minutes=rng.randint(0, 24 * 60)),
    }
    return Evidence.model_validate(data | overrides)


def ta_snapshot(pair: str, at: datetime, rng: random.Random | None = None) -> Evidence:
    """The TA snapshot the strategy pushes per pair and candle."""
    rng = rng or random.Random(f"{pair}{at}")
    summary = (
        f"{pair} 1h close {rng.uniform(0.1, 70000):.2f}, RSI14 {rng.uniform(10, 90):.1f}, "
        f"MACD hist {rng.uniform(-50, 50):+.2f}, EMA20 {'>' if rng.random() > 0.5 else '<'} "
        f"EMA50, ATR {rng.uniform(0.3, 4):.2f}%, volume x{rng.uniform(0.3, 3):.2f} of 20-bar mean"
    )
    return Evidence(
        id=f"ta-{pair.replace('/', '-')}-{int(at.timestamp())}",
        summary=summary,
        provenance={"source": "strategy"},
        tags={"category": "market-data", "pair": pair},
        severity="medium",
        confidence=0.9,
        observed_at=at,
    )


def constraint(index: int, **overrides) -> Constraint:
    data = {
        "id": f"risk-{index}",
        "summary": f"Never hold more than {10 + index}% of the stake in one pair (rule {index})",
        "provenance": {"source": "operator"},
        "priority": "p0",
        "hard": True,
    }
    return Constraint.model_validate(data | overrides)


def goal(index: int, **overrides) -> Goal:
    data = {
        "id": f"goal-{index}",
        "summary": f"Keep the daily drawdown under {2 + index}% while compounding (goal {index})",
        "provenance": {"source": "operator"},
        "priority": "p1",
    }
    return Goal.model_validate(data | overrides)


def insight(index: int, **overrides) -> Insight:
    data = {
        "id": f"insight-{index}",
        "summary": f"Entries on {PAIRS[index % len(PAIRS)]} after 22:00 UTC lost {index + 1}x",
        "provenance": {"source": "trade-memory"},
        "confidence": 0.7,
        "observed_at": T0 - timedelta(days=1),
    }
    return Insight.model_validate(data | overrides)


def mixed_corpus(count: int, seed: int = 7) -> list:
    """A realistic mix: mostly news and TA snapshots, some events, risks, goals and insights."""
    rng = random.Random(seed)
    objects: list = [constraint(i) for i in range(5)] + [goal(i) for i in range(4)]
    objects += [insight(i) for i in range(10)]
    index = 0
    while len(objects) < count:
        roll = rng.random()
        if roll < 0.55:
            objects.append(news(index, rng))
        elif roll < 0.85:
            at = T0 - timedelta(hours=rng.randint(0, 48))
            objects.append(
                ta_snapshot(rng.choice(PAIRS), at, rng).model_copy(update={"id": f"ta-{index}"})
            )
        else:
            objects.append(news(index, rng, id=f"event-{index}", tags={"category": "event"}))
        index += 1
    return objects[:count]
