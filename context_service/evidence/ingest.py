"""Where accepted items go: near-duplicates dropped, the rest upserted in one batch.

The sink is anything with ``upsert_many(objects)`` (a :class:`KnowledgeStore`, the market-wide
evidence store). Upserts are idempotent by id, so a re-import or a re-poll stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from context_service.evidence.dedup import NearDuplicates
from context_service.evidence.source import SourcedItem
from context_service.models import Evidence


class EvidenceSink(Protocol):
    def upsert_many(self, objects: Sequence[Any], now: Any = None) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Ingested:
    stored: int
    duplicates: int


class Ingestor:
    """Dedups across every source it is fed (one instance per process) and writes to a sink."""

    def __init__(
        self,
        sink: EvidenceSink,
        threshold: float = 0.7,
        window: timedelta = timedelta(hours=36),
    ) -> None:
        self.sink = sink
        self.dedup = NearDuplicates(threshold, window)

    def ingest(self, items: Iterable[SourcedItem], batch: int = 500) -> Ingested:
        """Store what is new, ``batch`` objects per write; duplicates are only counted.

        A failing write raises: the caller keeps its cursor and retries, and nothing the sink
        accepted before is lost (each batch is one idempotent upsert); the unwritten items are
        forgotten by the duplicate index so the retry stores them."""
        keep: list[Evidence] = []
        duplicates = stored = 0
        try:
            for item in sorted(items, key=lambda i: i.evidence.observed_at):
                evidence = item.evidence
                if _is_story(evidence) and self.dedup.seen(
                    evidence.id, _title(evidence), evidence.observed_at
                ):
                    duplicates += 1
                    continue
                keep.append(evidence)
                if len(keep) >= batch:
                    stored += len(self.sink.upsert_many(keep))
                    keep = []
            if keep:
                stored += len(self.sink.upsert_many(keep))
                keep = []
        finally:
            for evidence in keep:
                self.dedup.forget(evidence.id)
        return Ingested(stored, duplicates)


def _is_story(evidence: Evidence) -> bool:
    """News and keyword events are stories that other feeds repeat; readings are not."""
    return (
        "rule" in evidence.tags
        and evidence.tags.get("category") in ("news", "event")
        and ("fng_value" not in evidence.tags)
    )


def _title(evidence: Evidence) -> str:
    return evidence.summary.removesuffix(f" ({evidence.tags.get('feed', '')})")
