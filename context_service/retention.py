"""Retention runs by itself in the sidecar: a daemon thread applies it at a fixed interval.

Each pass deletes evidence past its lane TTL or ``valid_until`` and trims every bot's audit
stream by age and count (see :meth:`context_service.memory.Memory.apply_retention`). A failing
pass (Redis down) is logged and retried at the next interval; it never stops the service.
"""

from __future__ import annotations

import logging
import threading

from context_service.memory import Memory

log = logging.getLogger(__name__)


class RetentionScheduler:
    """Applies retention every ``interval_s`` seconds until :meth:`stop`."""

    def __init__(self, memory: Memory, interval_s: float) -> None:
        self.memory = memory
        self.interval_s = interval_s
        self.passes = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> RetentionScheduler:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def run_once(self) -> dict:
        report = self.memory.apply_retention()
        market_expired = self.memory.purge_market()
        self.passes += 1
        expired = sum(bot["evidence_expired"] for bot in report.values())
        trimmed = sum(bot["audit_trimmed"] for bot in report.values())
        log.info(
            "retention pass: %d bots, %d evidence objects expired, %d audit entries trimmed, "
            "%d market evidence objects expired",
            len(report),
            expired,
            trimmed,
            market_expired,
        )
        return report

    def _run(self) -> None:
        # First pass right away: a sidecar restarted after a long stop catches up at once.
        while not self._stopped.is_set():
            try:
                self.run_once()
            except Exception as exc:  # Redis down or a bad record: retry next interval
                log.warning("retention pass failed: %s", exc)
            self._stopped.wait(self.interval_s)
