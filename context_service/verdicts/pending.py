"""Verdicts that never block the bot loop: ask now, answer at once, complete in the background.

``POST /v1/verdicts/ask`` returns the verdict when it is ready, else "pending" while a worker
thread completes the chain (an LLM call may take seconds). Asking again for the same bot, pair,
candidate and candle returns the finished verdict, or "pending" again; it never starts a
second call. The ask that starts the work waits up to :data:`FIRST_ASK_WAIT_S` for it, so rules,
replay and quick LLM answers come back in the same bot loop; re-asks never wait.

Bounds, so a burst of asks can neither queue without limit nor crowd out other bots:

* at most ``max_in_progress_per_bot`` asks of one bot in progress (queued or running), more is
  refused (``busy_bot``, HTTP 429), and at most ``max_in_progress`` in all (``busy``, HTTP 503).
  A refused ask starts nothing: the bot refuses that entry (fail-closed) and asks again next loop;
* finished entries are kept ``keep_s`` after they completed, then forgotten (a later ask starts
  afresh; the replay cache answers repeated LLM questions anyway); past ``max_entries`` the
  oldest finished ones go first;
* a queued ask that nobody asked about for ``abandon_s`` (the bot moved on) is cancelled before
  it costs an LLM call. A running call cannot be stopped: it ends with the LLM client's timeout.

With ``claims`` (the app's table) the asks are shared by every sidecar on the same Redis
(:mod:`context_service.verdicts.claims`): a process claims an ask when it starts the work, the
others answer "pending" without starting anything, and the finished verdict is answered by any
of them, also after a restart. A sidecar that dies while working loses that work: its claim
expires, the bot's next ask starts it again (the gate keeps the time of the first ask, so
``CTX_VERDICT_MAX_WAIT_S`` still counts from there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import redis
from prometheus_client.registry import CollectorRegistry

from context_service.contract import Verdict, VerdictRequest
from context_service.verdicts.ask_metrics import AskCollector
from context_service.verdicts.claims import AskClaims, Elsewhere

logger = logging.getLogger(__name__)

AskKey = tuple[str, str, str, str]  # bot, pair, candidate, candle time (ISO, UTC)
Outcome = Literal["verdict", "pending", "busy_bot", "busy", "failed"]

# The ask that starts the work waits this long for it: a rules or replay verdict takes
# milliseconds and comes back in the same bot loop; an LLM call answers "pending". Well under
# the strategy's request timeout (CTX_SIDECAR_TIMEOUT_S, 2 s by default).
FIRST_ASK_WAIT_S = 0.25
MAX_IN_PROGRESS = 64  # with 4 workers and 3 s LLM calls: under a minute of queue
MAX_IN_PROGRESS_PER_BOT = 16
ABANDON_S = 120.0  # a bot re-asks every loop (5 s) while it still wants the verdict
SWEEP_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class AskResult:
    """A finished verdict, pending (with how long it has been running), or refused."""

    verdict: Verdict | None
    pending_s: float = 0.0
    refused: str | None = None
    outcome: Outcome = "pending"
    error: BaseException | None = None  # the background failure behind ``failed``


@dataclass(slots=True)
class _Entry:
    bot_id: str
    started: float
    future: Future[Verdict | Elsewhere]
    last_asked: float
    finished: float | None = None


def ask_key(request: VerdictRequest) -> AskKey:
    # candle_time is normalised to UTC by the model: one instant has one key.
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
        *,
        max_in_progress: int = MAX_IN_PROGRESS,
        max_in_progress_per_bot: int = MAX_IN_PROGRESS_PER_BOT,
        abandon_s: float = ABANDON_S,
        registry: CollectorRegistry | None = None,
        claims: AskClaims | None = None,
    ) -> None:
        """``claims``: share asks with the other sidecars on the same Redis (the app's table);
        without it the table is this process's alone (tests, tools)."""
        self._decide = decide
        self._claims = claims
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verdict-ask")
        self._keep_s = keep_s
        self._max_entries = max_entries
        self._max_in_progress = max_in_progress
        self._max_per_bot = max_in_progress_per_bot
        self._abandon_s = abandon_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[AskKey, _Entry] = OrderedDict()
        self._busy: Counter[str] = Counter()  # bot -> asks queued or running
        self._swept = float("-inf")
        self.events: Counter[str] = Counter()  # what happened to asks (metrics)
        self._registry = registry
        self._collector = AskCollector(self)
        if registry is not None:
            registry.register(self._collector)

    # --- asking -----------------------------------------------------------------------------
    def ask(self, request: VerdictRequest) -> AskResult:
        """The verdict, pending, or a refusal; never waits for the work (Redis calls only)."""
        key = ask_key(request)
        entry, answer, _ = self._enter(key, request)
        return answer if entry is None else self._result(key, entry)  # type: ignore[return-value]

    async def ask_waiting(self, request: VerdictRequest, wait_s: float) -> AskResult:
        """:meth:`ask` for an event loop: Redis is called in a thread, and the ask that starts
        the work awaits it up to ``wait_s`` (without holding a thread); re-asks answer at once."""
        key = ask_key(request)
        if self._claims is None:
            entry, answer, started = self._enter(key, request)
        else:
            entry, answer, started = await asyncio.to_thread(self._enter, key, request)
        if entry is None:
            return answer  # type: ignore[return-value]
        if started and wait_s > 0:
            await _done_within(entry.future, wait_s)
        return self._result(key, entry)

    def _enter(
        self, key: AskKey, request: VerdictRequest
    ) -> tuple[_Entry | None, AskResult | None, bool]:
        """The local entry of ``key`` (started now when nobody has it and the bounds allow),
        else the answer: a refusal, or what another process has (a verdict, or pending)."""
        now = self._clock()
        with self._lock:
            self._sweep(now)
            known = self._known(key, now)
            if known is not None:
                return known, None, False
            refusal = self._admit(request.bot_id)
            if refusal is not None:
                return None, refusal, False
        if self._claims is not None:  # another sidecar (or this one before a restart)?
            found = self._claims.find(request)  # a Redis error: answered 503
            if found is not None:
                return None, self._elsewhere(found), False
        with self._lock:
            known = self._known(key, now)  # another thread started it meanwhile
            if known is not None:
                return known, None, False
            refusal = self._admit(request.bot_id)
            if refusal is not None:
                return None, refusal, False
            # Submitted under the lock: _run's bookkeeping waits until the entry is in place.
            future = self._pool.submit(self._run, key, request)
            entry = _Entry(request.bot_id, now, future, now)
            self._entries[key] = entry
            self._busy[request.bot_id] += 1
            self.events["started"] += 1
            return entry, None, True

    def _known(self, key: AskKey, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.last_asked = now
            self.events["deduplicated"] += 1
        return entry

    def _elsewhere(self, found: Verdict | Elsewhere) -> AskResult:
        """The answer when another process has the ask: its verdict, or pending."""
        with self._lock:
            self.events["elsewhere"] += 1
        if isinstance(found, Elsewhere):
            return AskResult(None, pending_s=found.running_s)
        return AskResult(found, outcome="verdict")

    def _admit(self, bot_id: str) -> AskResult | None:
        """None when one more ask of ``bot_id`` may start, else the refusal (nothing started)."""
        if self._busy[bot_id] >= self._max_per_bot:
            refusal = AskResult(
                None,
                refused=f"too many verdict asks in progress for bot {bot_id} ({self._max_per_bot})",
                outcome="busy_bot",
            )
        elif sum(self._busy.values()) >= self._max_in_progress or not self._make_room():
            refusal = AskResult(
                None,
                refused=f"too many verdict asks in progress ({self._max_in_progress})",
                outcome="busy",
            )
        else:
            return None
        self.events[refusal.outcome] += 1
        logger.warning("verdict ask refused: %s", refusal.refused)
        return refusal

    def _result(self, key: AskKey, entry: _Entry) -> AskResult:
        future = entry.future
        if not future.done():
            return AskResult(None, pending_s=self._clock() - entry.started)
        error = future.exception()
        if error is None:
            result = future.result()
            if isinstance(result, Verdict):
                return AskResult(result, outcome="verdict")
            # Another process claimed it first: forget ours; asks now read its progress.
            self._forget(key, entry)
            return AskResult(None, pending_s=result.running_s)
        # decide() never raises for provider failures: this is Redis or a bug. Refuse this
        # answer (fail-closed) and forget the ask, so the next one tries again.
        self._forget(key, entry)
        reason = f"verdict failed: {type(error).__name__}: {error}"
        return AskResult(None, refused=reason, outcome="failed", error=error)

    def _forget(self, key: AskKey, entry: _Entry) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]

    def _run(self, key: AskKey, request: VerdictRequest) -> Verdict | Elsewhere:
        """The work of one ask, in a worker thread: claim it (several sidecars), run the chain,
        keep the verdict for every sidecar."""
        event, token = "failed", None
        try:
            if self._claims is not None:
                found, token = self._claims.claim(request)
                if found is not None:
                    event = "elsewhere"
                    return found
            verdict = self._decide(request)
            event = "completed"
            if self._claims is not None:
                try:
                    self._claims.finish(request, verdict)
                except redis.RedisError as exc:  # this sidecar still answers it
                    logger.warning("verdict of %s not shared: %s", key, exc)
            return verdict
        except Exception:
            logger.exception("background verdict for %s failed", key)
            if token is not None:
                with contextlib.suppress(redis.RedisError):  # else it expires
                    self._claims.release(request, token)  # type: ignore[union-attr]
            raise
        finally:
            with self._lock:
                self._release(request.bot_id)
                self.events[event] += 1
                entry = self._entries.get(key)
                if entry is not None:
                    entry.finished = self._clock()

    # --- bounds -----------------------------------------------------------------------------
    def _release(self, bot_id: str) -> None:
        self._busy[bot_id] -= 1
        if self._busy[bot_id] <= 0:
            del self._busy[bot_id]

    def _sweep(self, now: float) -> None:
        """Drop finished entries older than ``keep_s``; cancel queued asks nobody asked about
        for ``abandon_s`` (at most once a second: the table may hold thousands)."""
        if now - self._swept < SWEEP_EVERY_S:
            return
        self._swept = now
        for key in list(self._entries):
            entry = self._entries[key]
            if entry.finished is not None:
                if now - entry.finished > self._keep_s:
                    del self._entries[key]
            elif now - entry.last_asked > self._abandon_s and entry.future.cancel():
                # cancel() only succeeds before the work began: _run will never release it
                del self._entries[key]
                self._release(entry.bot_id)
                self.events["abandoned"] += 1
                logger.info("verdict ask %s abandoned: not asked for %.0f s", key, self._abandon_s)

    def _make_room(self) -> bool:
        """Room for one more entry, dropping the oldest finished ones if needed."""
        if len(self._entries) < self._max_entries:
            return True
        for key in [k for k, e in self._entries.items() if e.finished is not None]:
            del self._entries[key]
            if len(self._entries) < self._max_entries:
                return True
        return False

    # --- state --------------------------------------------------------------------------------
    def in_progress(self, bot_id: str | None = None) -> int:
        """Asks queued or running (of ``bot_id``, or of every bot)."""
        with self._lock:
            entries = list(self._entries.values())
        return sum(1 for e in entries if not e.future.done() and bot_id in (None, e.bot_id))

    def event_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.events)

    def oldest_pending_s(self) -> float:
        """How long the oldest ask still in progress has been running (0 when none)."""
        now = self._clock()
        with self._lock:
            starts = [e.started for e in self._entries.values() if not e.future.done()]
        return now - min(starts) if starts else 0.0

    def close(self) -> None:
        """Cancel queued asks; running ones finish in their threads (the client re-asks)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._registry is not None:
            with contextlib.suppress(KeyError):
                self._registry.unregister(self._collector)


async def _done_within(future: Future[Verdict | Elsewhere], timeout_s: float) -> None:
    """Return when ``future`` is done or after ``timeout_s``, whichever comes first."""
    if future.done():
        return
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def wake(_: Future[Verdict | Elsewhere]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
            loop.call_soon_threadsafe(done.set)

    future.add_done_callback(wake)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout_s)
