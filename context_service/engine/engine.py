"""The context engine: knowledge objects in, a token-budgeted working memory out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from context_service.engine.lanes import LaneMode, LanePolicy, default_lanes, validate_lanes
from context_service.engine.manifest import Manifest, Synthesis, manifest_id_for
from context_service.engine.store import InMemoryStore, KnowledgeStore
from context_service.engine.synthesis import content_hash, draft
from context_service.engine.table import CandidateTable
from context_service.engine.tokens import TokenCounter
from context_service.models import KnowledgeObject, as_utc, utcnow

log = logging.getLogger(__name__)

ENGINE_VERSION = "context-engine/1.0"
Event = Literal["upserted", "synthesized", "archived"]
EVENTS: tuple[Event, ...] = ("upserted", "synthesized", "archived")
MAX_BUDGET_TOKENS = 1_000_000


class ContextEngine:
    """Keeps knowledge objects and synthesizes budgeted, point-in-time working memories.

    The engine mirrors its store in a :class:`CandidateTable` (lane, score parts, rendered
    line, token counts: all computed once per upsert). With the default store every write goes
    through the engine, so the mirror is always current. With a store passed in (for example
    the Redis store, which other processes may write to) the engine reconciles the mirror with
    ``store.all()`` before each synthesis; only changed objects are prepared again.

    ``shared`` is a store other engines read too (the market-wide evidence): its objects take
    part in every synthesis beside the engine's own, are never copied into the own store, and
    are reconciled into the mirror only when the shared store's ``change_token()`` moves. An
    own object with the same id as a shared one wins.

    Listeners: ``upserted`` and ``archived`` callbacks get the object, ``synthesized`` ones
    get the :class:`Synthesis`. A listener that raises is logged and otherwise ignored.
    The engine is thread-safe (one lock); synthesis is pure CPU and takes milliseconds.
    """

    def __init__(
        self,
        store: KnowledgeStore | None = None,
        lanes: Sequence[LanePolicy] | None = None,
        model: str = "gpt-4.1-mini",
        shared: KnowledgeStore | None = None,
    ) -> None:
        self._mirror_is_complete = store is None
        self.shared = shared
        self._shared_ids: set[str] = set()  # mirrored ids that came from ``shared``
        self._shared_token: object = None
        self.store: KnowledgeStore = store if store is not None else InMemoryStore()
        self._lanes = validate_lanes(default_lanes() if lanes is None else lanes)
        self.model = model
        self._counters: dict[str, TokenCounter] = {model: TokenCounter(model)}
        self._table = CandidateTable(self._lanes)
        self._listeners: dict[str, list[Callable[[Any], None]]] = {event: [] for event in EVENTS}
        self._lock = threading.RLock()
        self._store_token: object = None  # store's change_token() at the last reconcile
        if not self._mirror_is_complete:
            self.refresh()

    # -- configuration ---------------------------------------------------------------------
    @property
    def lanes(self) -> tuple[LanePolicy, ...]:
        return self._lanes

    @property
    def token_counter(self) -> TokenCounter:
        return self._counters[self.model]

    def set_lanes(self, lanes: Sequence[LanePolicy]) -> None:
        """Replace the lane policies; objects are matched to lanes again."""
        validated = validate_lanes(lanes)
        with self._lock:
            self._lanes = validated
            self._table.set_lanes(validated)

    def set_lane_mode(self, name: str, mode: LaneMode) -> None:
        """Enable, mute or disable one lane by name."""
        if name not in {lane.name for lane in self._lanes}:
            known = ", ".join(lane.name for lane in self._lanes)
            raise ValueError(f"unknown lane {name!r}; lanes: {known}")
        lanes = [lane.with_mode(mode) if lane.name == name else lane for lane in self._lanes]
        self.set_lanes(lanes)

    def counter_for(self, model: str | None) -> TokenCounter:
        model = model or self.model
        with self._lock:
            if model not in self._counters:
                self._counters[model] = TokenCounter(model)
            return self._counters[model]

    # -- listeners -------------------------------------------------------------------------
    def add_listener(self, event: Event, callback: Callable[[Any], None]) -> None:
        if event not in self._listeners:
            raise ValueError(f"unknown event {event!r}; events: {', '.join(EVENTS)}")
        self._listeners[event].append(callback)

    def remove_listener(self, event: Event, callback: Callable[[Any], None]) -> None:
        if callback in self._listeners.get(event, []):
            self._listeners[event].remove(callback)

    def _emit(self, event: Event, payload: Any) -> None:
        for callback in list(self._listeners[event]):
            try:
                callback(payload)
            except Exception:
                log.exception("%s listener %r failed; carrying on", event, callback)

    # -- knowledge objects -----------------------------------------------------------------
    def upsert(self, obj: KnowledgeObject, now: datetime | None = None) -> KnowledgeObject:
        """Insert or merge ``obj`` by id; returns the stored version."""
        with self._lock:
            stored = self.store.upsert(obj, now)
            self._table.put(stored, self.token_counter)
            self._shared_ids.discard(stored.id)
            self._follow_own_write()
        self._emit("upserted", stored)
        return stored

    def upsert_many(
        self, objects: Iterable[KnowledgeObject], now: datetime | None = None
    ) -> list[KnowledgeObject]:
        with self._lock:
            stored = self.store.upsert_many(list(objects), now)
            for obj in stored:
                self._table.put(obj)
                self._shared_ids.discard(obj.id)
            self._table.tokens_for(self.token_counter)  # counted in one batch
            self._follow_own_write()
        for obj in stored:
            self._emit("upserted", obj)
        return stored

    def get(self, object_id: str) -> KnowledgeObject | None:
        return self.store.get(object_id)

    def delete(self, object_id: str) -> bool:
        with self._lock:
            existed = self.store.delete(object_id)
            self._table.remove(object_id)
            self._shared_token = None  # a shared object it shadowed shows again
        return existed

    def purge_expired(self, now: datetime | None = None) -> list[KnowledgeObject]:
        """Delete expired objects; each is announced to ``archived`` listeners."""
        with self._lock:
            archived = self.store.purge_expired(now)
            for obj in archived:
                self._table.remove(obj.id)
            self._shared_token = None
        for obj in archived:
            self._emit("archived", obj)
        return archived

    def __len__(self) -> int:
        return len(self._table)

    def _follow_own_write(self) -> None:
        """After a write through this engine (already applied to the mirror): when the mirror
        was complete just before it, it is complete at the store's new token too, so the next
        synthesis need not walk the store (stores report ``own_write = (before, after)``)."""
        own = getattr(self.store, "own_write", None)
        if own is not None and self._store_token == own[0]:
            self._store_token = own[1]

    def refresh(self, token: object = None) -> None:
        """Bring the mirror in line with the store (only changed objects are prepared).

        Stores that offer ``change_token()`` (a value that changes with every write) are not
        even read while the token stays the same; a caller that has just read the token
        passes it (one read fewer).
        """
        if token is None:
            token_of = getattr(self.store, "change_token", None)
            token = token_of() if callable(token_of) else None
        with self._lock:
            if token is not None and token == self._store_token:
                return
            seen: set[str] = set()
            for obj in self.store.all():
                seen.add(obj.id)
                mirrored = self._table.get(obj.id)
                # Stores that keep parsed objects hand back the same instance while it is
                # unchanged; anything else is compared (updated_at alone can repeat).
                if mirrored is obj:
                    continue
                if mirrored is not None and mirrored == obj:
                    self._table.objects[self._table.slot_of[obj.id]] = obj  # same next time
                    continue
                self._table.put(obj)
                self._shared_ids.discard(obj.id)
            mirrored = self._table.slot_of
            gone = [k for k in mirrored if k not in seen and k not in self._shared_ids]
            for object_id in gone:
                self._table.remove(object_id)
            if gone:
                self._shared_token = None  # a shared object it shadowed shows again
            self._store_token = token

    def _refresh_shared(self, token: object = None) -> None:
        """Bring the shared store's objects into the mirror when it has changed."""
        shared = self.shared
        assert shared is not None
        if token is None:
            token_of = getattr(shared, "change_token", None)
            token = token_of() if callable(token_of) else object()
        with self._lock:
            if token == self._shared_token:
                return
            seen: set[str] = set()
            for obj in shared.all():
                mirrored = self._table.get(obj.id)
                if mirrored is not None and obj.id not in self._shared_ids:
                    continue  # the engine's own object with this id wins
                seen.add(obj.id)
                if mirrored is obj:
                    continue
                self._table.put(obj)
            for object_id in self._shared_ids - seen:
                self._table.remove(object_id)
            self._shared_ids = seen
            self._shared_token = token

    # -- synthesis -------------------------------------------------------------------------
    def synthesize(
        self,
        budget_tokens: int,
        as_of: datetime | None = None,
        model: str | None = None,
        now: datetime | None = None,
        tokens: tuple[object, object] | None = None,
        assets: Iterable[str] | None = None,
    ) -> Synthesis:
        """The working memory that fits ``budget_tokens`` of ``model``, and its manifest.

        With ``as_of`` only objects observed at or before it and still valid then take part
        (backtests); without it, everything not expired at ``now`` does. ``tokens`` are the
        own and shared stores' change tokens when the caller has just read them. With
        ``assets`` (e.g. the base of the pair being decided) objects tagged with other assets
        only are left out; untagged objects concern everyone.
        """
        if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int):
            raise TypeError(f"budget_tokens must be an int, got {budget_tokens!r}")
        if not 1 <= budget_tokens <= MAX_BUDGET_TOKENS:
            raise ValueError(f"budget_tokens must be 1..{MAX_BUDGET_TOKENS}, got {budget_tokens}")
        as_of = None if as_of is None else as_utc(as_of)
        reference = as_of or (utcnow() if now is None else as_utc(now))
        counter = self.counter_for(model)
        with self._lock:
            own_token, shared_token = tokens or (None, None)
            if not self._mirror_is_complete:
                self.refresh(own_token)
            if self.shared is not None:
                self._refresh_shared(shared_token)
            result = draft(
                self._table, self._lanes, counter, budget_tokens, as_of, reference, assets
            )
        digest = content_hash(result.text)
        manifest = Manifest(
            manifest_id=manifest_id_for(digest, as_of, budget_tokens),
            engine_version=ENGINE_VERSION,
            model=counter.model,
            encoding=counter.encoding_name,
            budget=budget_tokens,
            as_of=as_of,
            scored_at=reference,
            total_tokens=result.total_tokens,
            content_hash=digest,
            lanes=result.lane_totals,
        )
        manifest._draft = result
        synthesis = Synthesis(text=result.text, manifest=manifest)
        self._emit("synthesized", synthesis)
        return synthesis
