"""Decision slots: how many decisions do their local work at once, admitted in arrival order.

A decision's local work (the snapshot upsert, the synthesis, the rules, the audit write) is
CPU in this process between a few Redis round trips. Dozens of threads doing it at once do not
finish sooner: they take turns on the GIL, every Redis reply has to win it back behind all the
others, and a burst of arrivals turns into a convoy in which each decision waits for every
other one and the switching itself eats the CPU. At 200 verdicts/s on two cores that kept the
median at 4 ms while bursts pushed the 99th percentile past 100 ms. A few slots, handed over
first come first served, keep the others waiting on a lock of their own, where they cost
nothing; the work then drains at full speed.

A provider that waits on a remote service (the LLM: seconds) gives its slot back for that wait
(:attr:`~context_service.verdicts.provider.VerdictProvider.remote`), so a slow call never holds
up the fast decisions behind it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class DecisionSlots:
    """``count`` slots; :meth:`held` waits for one (first come, first served)."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("decision slots: at least one")
        self.count = count
        self._free = count
        self._waiting: deque[threading.Lock] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by the release() that hands this caller its slot

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # the slot passes on, never through _free
            else:
                self._free += 1

    @contextmanager
    def held(self) -> Iterator[None]:
        """A slot for the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @contextmanager
    def given_back(self) -> Iterator[None]:
        """Inside :meth:`held`: the slot is free for others during the block, and taken again
        (in turn) after it."""
        self.release()
        try:
            yield
        finally:
            self.acquire()

    @property
    def waiting(self) -> int:
        """Decisions waiting for a slot now."""
        return len(self._waiting)
