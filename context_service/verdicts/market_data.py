"""The request's TA snapshot as market-data evidence for the context engine."""

from __future__ import annotations

import re
from datetime import timedelta

from context_service.contract import TASnapshot, snapshot_evidence_id
from context_service.models import Evidence, Provenance, Severity

# A snapshot stays valid for a few candles: stale indicators must not steer a later decision.
VALID_CANDLES = 3
_UNIT = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "M": timedelta(days=30),
}


def timeframe_delta(timeframe: str) -> timedelta:
    """``"1h"`` -> one hour (months count as 30 days)."""
    match = re.fullmatch(r"(\d{1,3})([mhdwM])", timeframe)
    if not match:
        raise ValueError(f"unknown timeframe {timeframe!r}")
    return int(match.group(1)) * _UNIT[match.group(2)]


def snapshot_evidence(snapshot: TASnapshot) -> Evidence:
    """The evidence object of a TA snapshot, dated at its candle."""
    return Evidence(
        id=snapshot_evidence_id(snapshot),
        summary=snapshot.summary_line(),
        tags={"category": "market-data", "pair": snapshot.pair, "timeframe": snapshot.timeframe},
        provenance=Provenance(source="strategy-ta"),
        observed_at=snapshot.candle_time,
        valid_until=snapshot.candle_time + VALID_CANDLES * timeframe_delta(snapshot.timeframe),
        severity=Severity.medium,
        confidence=0.9,
    )
