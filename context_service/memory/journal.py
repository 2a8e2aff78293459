"""Trade events survive an outage: they go to a local journal and are replayed later.

The writer stores events through a *sink*: the Redis memory (sidecar and in-process paths) or
any callable that stores one event and raises one of the ``unreachable`` exceptions when it
cannot answer (the bot's HTTP client, while the sidecar is down).

The strategy calls :meth:`JournaledTradeWriter.record` for every fill and closed trade. When
the sink answers, the event is stored (idempotently). When it does not, the event is appended to
``trade-events.jsonl`` in the journal folder (flushed and fsynced) and the strategy carries on.
Once the sink answers again, :meth:`~JournaledTradeWriter.replay` (also tried before each new event)
writes the journal in order; events already stored are skipped by idempotence, so a replay
interrupted half-way is simply run again. Lines that are not valid events are moved to
``trade-events.rejected.jsonl`` with the reason, never dropped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import redis
from pydantic import ValidationError

from .models import TradeEvent

if TYPE_CHECKING:
    from .memory import Memory

log = logging.getLogger(__name__)

JOURNAL_NAME = "trade-events.jsonl"
REJECTED_NAME = "trade-events.rejected.jsonl"
# Connection loss, timeouts, a server still loading its AOF, OOM or READONLY refusals: the
# event is journaled (never lost) and the strategy carries on.
UNREACHABLE = (redis.RedisError,)

RecordOutcome = Literal["stored", "duplicate", "journaled"]
# Stores one event: True when added, False when it was already there (idempotent replays).
TradeSink = Callable[[TradeEvent], bool]


class JournaledTradeWriter:
    """Writes trade events to memory, or to a local journal while its sink is unreachable."""

    def __init__(
        self,
        sink: Memory | TradeSink,
        journal_dir: Path | None = None,
        retry_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        unreachable: tuple[type[BaseException], ...] = UNREACHABLE,
    ) -> None:
        """``sink`` is a :class:`Memory` or a callable storing one event (see the module
        docstring); ``journal_dir`` defaults to the memory's ``settings.journal_dir`` and is
        required for a callable. After the sink failed, :meth:`record` journals straight away
        for ``retry_after_s`` seconds instead of waiting on a dead connection for every fill."""
        if callable(sink):
            if journal_dir is None:
                raise ValueError("journal_dir is required when the sink is a callable")
            self._store: TradeSink = sink
        else:
            memory = sink
            self._store = lambda event: memory.bot(event.bot_id).record_trade_event(event)
            journal_dir = journal_dir or memory.settings.journal_dir
        self.unreachable = unreachable
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._failed_at = float("-inf")
        self.journal_dir = Path(journal_dir)
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.journal_dir / JOURNAL_NAME
        self.rejected_path = self.journal_dir / REJECTED_NAME
        self._lock = threading.Lock()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time, across threads and processes sharing the folder."""
        with self._lock, open(self.journal_dir / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def pending(self) -> int:
        """Number of events waiting in the journal."""
        if not self.path.exists():
            return 0
        with open(self.path, encoding="utf-8") as handle:
            return sum(1 for line in handle if line.strip())

    def record(self, event: TradeEvent) -> RecordOutcome:
        """Store ``event``; journal it when the sink is unreachable. Never loses an event."""
        with self._locked():
            if self._clock() - self._failed_at < self.retry_after_s:  # failed moments ago: skip it
                self._append(event)
                return "journaled"
            if self._has_journal():
                self._replay_locked()
                if self._has_journal():  # still down: keep the order, queue behind the rest
                    self._append(event)
                    return "journaled"
            try:
                added = self._store(event)
            except self.unreachable as exc:
                log.warning("trade event not stored (%s): journaled", exc)
                self._failed()
                self._append(event)
                return "journaled"
            return "stored" if added else "duplicate"

    def replay(self) -> int:
        """Write journaled events to the sink in order; returns how many left the journal.
        Always tries the sink (call it when it is known to be back)."""
        with self._locked():
            return self._replay_locked()

    # -- internals -----------------------------------------------------------------------
    def _failed(self) -> None:
        self._failed_at = self._clock()

    def _has_journal(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def _append(self, event: TradeEvent) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(event.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _reject(self, line: str, reason: str) -> None:
        log.error("journal line rejected (%s); kept in %s", reason, self.rejected_path)
        with open(self.rejected_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"reason": reason, "line": line}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _replay_locked(self) -> int:
        if not self._has_journal():
            return 0
        lines = [line for line in self.path.read_text("utf-8").splitlines() if line.strip()]
        done = 0
        for line in lines:
            try:
                event = TradeEvent.model_validate_json(line)
            except ValidationError as exc:
                self._reject(line, f"invalid trade event: {exc.errors()[0]['msg']}")
                done += 1
                continue
            try:
                self._store(event)
            except self.unreachable:
                self._failed()
                break
            self._failed_at = float("-inf")  # the sink answers again
            done += 1
        self._rewrite(lines[done:])
        if done:
            log.info("replayed %d journaled trade events, %d left", done, len(lines) - done)
        return done

    def _rewrite(self, remaining: list[str]) -> None:
        if not remaining:
            self.path.unlink(missing_ok=True)
            return
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write("\n".join(remaining) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
