"""Verdicts that never block the bot loop: ask now, answer at once, complete in the background.

``POST /v1/verdicts/ask`` returns the verdict when it is ready, else "pending" while a worker
thread completes the chain (an LLM call may take seconds). Asking again for the same bot, pair,
candidate and candle returns the finished verdict, or "pending" again; it never starts a
second call. The strategy asks as soon as a candidate exists and, in ``confirm_trade_entry``,
takes the verdict when it is there (fail-closed while pending).

Finished verdicts are kept for ``keep_s`` after they completed, then forgotten (a later ask
starts afresh; the replay cache answers repeated LLM questions anyway). The table is bounded:
past ``max_entries`` the oldest finished entries go first, and a new ask beyond the bound while
every entry is still running is refused (fail-closed for that candle), never queued without
limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from context_service.contract import Verdict, VerdictRequest

logger = logging.getLogger(__name__)

AskKey = tuple[str, str, str, str]  # bot, pair, candidate, candle time (ISO)


@dataclass(frozen=True, slots=True)
class AskResult:
    """A finished verdict, or pending (with how long it has been running)."""

    verdict: Verdict | None
    pending_s: float = 0.0
    refused: str | None = None


def ask_key(request: VerdictRequest) -> AskKey:
    return (request.bot_id, request.pair, request.candidate, request.candle_time.isoformat())


class PendingVerdicts:
    """Background completion of verdict asks, one computation per ask key."""

    def __init__(
        self,
        decide: Callable[[VerdictRequest], Verdict],
        workers: int = 4,
        keep_s: float = 900.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._decide = decide
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verdict-ask")
        self._keep_s = keep_s
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (started, future, finished_at or None)
        self._entries: OrderedDict[AskKey, tuple[float, Future[Verdict], float | None]] = (
            OrderedDict()
        )

    def ask(self, request: VerdictRequest) -> AskResult:
        key = ask_key(request)
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(key)
            if entry is None:
                if not self._make_room():
                    return AskResult(None, refused="too many verdicts in progress")
                future = self._pool.submit(self._run, key, request)
                entry = (now, future, None)
                self._entries[key] = entry
        started, future, _ = entry
        if not future.done():
            return AskResult(None, pending_s=now - started)
        error = future.exception()
        if error is not None:
            # decide() never raises for provider failures; anything else is a bug. Refuse this
            # answer (fail-closed) and forget the ask, so the next one tries again.
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return AskResult(None, refused=f"verdict failed: {type(error).__name__}: {error}")
        return AskResult(future.result())

    def _run(self, key: AskKey, request: VerdictRequest) -> Verdict:
        try:
            return self._decide(request)
        except Exception:
            logger.exception("background verdict for %s failed", key)
            raise
        finally:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries[key] = (entry[0], entry[1], self._clock())

    def _expire(self, now: float) -> None:
        """Drop finished entries older than ``keep_s``."""
        for key in list(self._entries):
            finished = self._entries[key][2]
            if finished is not None and now - finished > self._keep_s:
                del self._entries[key]

    def _make_room(self) -> bool:
        """Room for one more entry, dropping the oldest finished ones if needed."""
        if len(self._entries) < self._max_entries:
            return True
        for key in [k for k, e in self._entries.items() if e[2] is not None]:
            del self._entries[key]
            if len(self._entries) < self._max_entries:
                return True
        return False

    def in_progress(self) -> int:
        with self._lock:
            return sum(1 for _, future, _ in self._entries.values() if not future.done())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
