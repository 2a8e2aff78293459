"""Which lane an object belongs to, for per-lane retention (``CTX_EVIDENCE_TTL_HOURS``).

The answer comes from the context engine's own default lane selection (first match wins), so
retention and synthesis can never disagree about an object's lane. Objects no default lane
selects (e.g. evidence with an unknown ``category`` tag) have no lane and no lane TTL.
"""

from __future__ import annotations

from context_service.engine.lanes import assign_lane, default_lanes
from context_service.models import KnowledgeObject

_DEFAULT_LANES = tuple(default_lanes())


def lane_of(obj: KnowledgeObject) -> str | None:
    index = assign_lane(obj, _DEFAULT_LANES)
    return None if index < 0 else _DEFAULT_LANES[index].name
