"""The verdict gate: fetch verdicts ahead of time, answer entry/exit questions from the cache.

The strategy calls :meth:`VerdictGate.fetch` in ``bot_loop_start`` for the pairs whose last
closed candle is a candidate, and asks :meth:`entry_allowed` / :meth:`exit_wanted` in its
callbacks. Those two never call the engine: they only read the cache, so callbacks stay fast
and exits never wait for the sidecar. A verdict counts only for the exact pair and candle it
was asked for.

Asks are asynchronous by default (``asynchronous``, ``CTX_VERDICT_ASYNC=true``): where the
client can (``client.ask``, the HTTP client), the ask never waits for an LLM call; the sidecar
answers "pending" at once and completes the call in the background. The gate keeps asking on
each loop; while pending, entries are refused (``verdict pending``, fail-closed), and the entry
is made on the first loop after the verdict arrived. A verdict that arrives more than
``max_wait_s`` after the first ask for its candle is not used (``verdict came too late``).
A client without ``ask`` (in-process, backtests) answers at once through ``decide``; so does
the HTTP client with ``CTX_VERDICT_ASYNC=false`` (``POST /v1/verdicts``, waiting for the LLM).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from context_service.adjustments import AdjustmentLimits
from context_service.client.base import ContextClient, ContextUnavailable
from context_service.client.stats import GatingStats
from context_service.contract import (
    Action,
    OpenPosition,
    TASnapshot,
    Verdict,
    VerdictRequest,
)
from context_service.risk.refusals import Refusal

logger = logging.getLogger(__name__)

Candidate = Literal["entry", "exit"]


@dataclass(frozen=True, slots=True)
class GateAnswer:
    allowed: bool
    refusal: Refusal | None  # the category when not allowed
    verdict: Verdict | None = None

    @property
    def reason(self) -> str:
        return "buy verdict" if self.refusal is None else str(self.refusal)


@dataclass
class VerdictGate:
    client: ContextClient
    bot_id: str
    min_confidence: float
    stats: GatingStats = field(default_factory=GatingStats)
    strategy_version: str | None = None  # sent with every request, kept on every verdict
    config_hash: str | None = None
    adjustment_limits: AdjustmentLimits | None = None  # sent with every request
    max_wait_s: float = 60.0
    asynchronous: bool = True  # ask without waiting (client.ask) where the client can
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, Candidate], Verdict] = field(default_factory=dict)
    _failures: dict[tuple[str, Candidate], tuple[datetime, str]] = field(default_factory=dict)
    # (pair, candidate) -> (candle, when it was first asked) while no verdict is there yet
    _pending: dict[tuple[str, Candidate], tuple[datetime, float]] = field(default_factory=dict)
    # Told of every fresh verdict (the user's Telegram/webhook in dry-run/live; notify.py).
    on_verdict: Callable[[Verdict], None] | None = None

    def fetch(
        self,
        snapshot: TASnapshot,
        *,
        as_of: datetime,
        candidate: Candidate = "entry",
        position: OpenPosition | None = None,
    ) -> Verdict | None:
        """Ask the engine about ``snapshot``'s candle; remember the verdict or the failure."""
        key = (snapshot.pair, candidate)
        cached = self._cache.get(key)
        if cached is not None and cached.candle_time == snapshot.candle_time:
            return cached
        started = time.perf_counter()
        try:
            request = VerdictRequest(
                bot_id=self.bot_id,
                pair=snapshot.pair,
                candle_time=snapshot.candle_time,
                candidate=candidate,
                snapshot=snapshot,
                position=position,
                as_of=as_of,
                strategy_version=self.strategy_version,
                config_hash=self.config_hash,
                adjustment_limits=self.adjustment_limits,
            )
            ask = getattr(self.client, "ask", None) if self.asynchronous else None
            verdict = ask(request) if ask is not None else self.client.decide(request)
        except ContextUnavailable as exc:
            self._fail(key, snapshot.candle_time, f"engine unavailable: {exc}")
            return None
        except Exception as exc:  # a bug must fail closed too, never crash the bot loop
            self._fail(key, snapshot.candle_time, f"error: {type(exc).__name__}: {exc}")
            return None
        if verdict is None:
            return self._still_pending(key, snapshot.candle_time)
        if verdict.candle_time != snapshot.candle_time or verdict.candidate != candidate:
            self._fail(key, snapshot.candle_time, "verdict does not answer the request")
            return None
        pending = self._pending.pop(key, None)
        if pending is not None and pending[0] == snapshot.candle_time:
            waited = self.clock() - pending[1]
            if waited > self.max_wait_s:
                self._fail(key, snapshot.candle_time, f"late: {waited:.1f}s after the first ask")
                return None
            logger.info(
                "verdict for %s %s at %s arrived %.1f s after the first ask",
                key[0],
                key[1],
                snapshot.candle_time,
                waited,
            )
        self.stats.record_verdict(verdict, time.perf_counter() - started)
        self._cache[key] = verdict
        self._failures.pop(key, None)
        if self.on_verdict is not None:
            self.on_verdict(verdict)
        return verdict

    def _still_pending(self, key: tuple[str, Candidate], candle: datetime) -> None:
        """The sidecar is still working on it: not a failure; ask again next loop."""
        pending = self._pending.get(key)
        if pending is None or pending[0] != candle:
            self._pending[key] = (candle, self.clock())
            logger.info(
                "verdict for %s %s at %s pending: the sidecar is working on it (entries on this "
                "candle wait for it, at most %.0f s)",
                key[0],
                key[1],
                candle,
                self.max_wait_s,
            )
        self._cache.pop(key, None)
        self._failures.pop(key, None)
        return None

    def is_pending(self, pair: str, candidate: Candidate, candle: datetime) -> bool:
        """Whether the verdict of ``pair``'s ``candle`` was asked and is still being worked on
        (the strategy keeps asking other pairs: pending is no sidecar failure)."""
        key = (pair, candidate)
        pending = self._pending.get(key)
        if pending is None or pending[0] != candle:
            return False
        # The last ask of it failed (sidecar down or refusing): a failure, not pending, until
        # an ask answers "pending" again (the first ask's time is kept for max_wait_s).
        failure = self._failures.get(key)
        return failure is None or failure[0] != candle

    def _fail(self, key: tuple[str, Candidate], candle: datetime, reason: str) -> None:
        self.stats.unavailable += 1
        self._cache.pop(key, None)
        self._failures[key] = (candle, reason)
        logger.warning("no verdict for %s %s at %s: %s", key[0], key[1], candle, reason)

    def entry_allowed(self, pair: str, signal_candle: datetime) -> GateAnswer:
        """Fail closed: only a fresh ``buy`` at or above ``min_confidence`` passes."""
        verdict = self._cache.get((pair, "entry"))
        if verdict is None or verdict.candle_time != signal_candle:
            failure = self._failures.get((pair, "entry"))
            if failure and failure[0] == signal_candle:
                if failure[1].startswith("late:"):
                    return GateAnswer(False, Refusal.verdict_late)
                return GateAnswer(False, Refusal.engine_unavailable)
            if self.is_pending(pair, "entry", signal_candle):
                return GateAnswer(False, Refusal.verdict_pending)
            return GateAnswer(False, Refusal.no_verdict)
        if verdict.action != Action.buy:
            refusal = (
                Refusal.verdict_sell if verdict.action == Action.sell else Refusal.verdict_hold
            )
            return GateAnswer(False, refusal, verdict)
        if verdict.confidence < self.min_confidence:
            return GateAnswer(False, Refusal.low_confidence, verdict)
        return GateAnswer(True, None, verdict)

    def exit_wanted(self, pair: str, signal_candle: datetime) -> Verdict | None:
        """A ``sell`` verdict at or above ``min_confidence`` for this candle, else None."""
        verdict = self._cache.get((pair, "exit"))
        if (
            verdict is not None
            and verdict.candle_time == signal_candle
            and verdict.action == Action.sell
            and verdict.confidence >= self.min_confidence
        ):
            return verdict
        return None
