"""The context engine: lanes, scoring and token-budgeted, point-in-time synthesis.

See docs/context-engine.md for the lanes, the scoring formula, floors and caps, the manifest
and as-of mode.
"""

from context_service.engine.engine import ENGINE_VERSION, ContextEngine
from context_service.engine.lanes import (
    LaneMode,
    LanePolicy,
    LaneSelector,
    LaneWeights,
    default_lanes,
)
from context_service.engine.manifest import LaneTotals, Manifest, ManifestEntry, Synthesis
from context_service.engine.store import InMemoryStore, KnowledgeStore
from context_service.engine.tokens import TokenCounter

__all__ = [
    "ENGINE_VERSION",
    "ContextEngine",
    "InMemoryStore",
    "KnowledgeStore",
    "LaneMode",
    "LanePolicy",
    "LaneSelector",
    "LaneTotals",
    "LaneWeights",
    "Manifest",
    "ManifestEntry",
    "Synthesis",
    "TokenCounter",
    "default_lanes",
]
