"""Which lane an object belongs to, for per-lane retention (``CTX_EVIDENCE_TTL_HOURS``).

Mirrors the context engine's default lane selection, first match wins:

==================  =========================================================
lane                objects
==================  =========================================================
risk-factors        constraints, and evidence tagged ``category=risk``
strategy            goals
memory              insights
market-data         evidence tagged ``category=market-data``
market-events       evidence tagged ``category=event``
news-sentiment      evidence tagged ``category=news``, and any other evidence
==================  =========================================================
"""

from __future__ import annotations

from context_service.models import KnowledgeObject

CATEGORY_LANES = {"risk": "risk-factors", "market-data": "market-data", "event": "market-events"}
KIND_LANES = {"constraint": "risk-factors", "goal": "strategy", "insight": "memory"}


def lane_of(obj: KnowledgeObject) -> str:
    kind = getattr(obj, "kind", "evidence")
    if kind in KIND_LANES:
        return KIND_LANES[kind]
    return CATEGORY_LANES.get(obj.tags.get("category", ""), "news-sentiment")
