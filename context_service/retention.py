"""Retention runs by itself in the sidecar: a daemon thread applies it at a fixed interval.

Each pass deletes evidence past its lane TTL or ``valid_until`` and trims every bot's audit
stream by write age and count (see :meth:`context_service.memory.Memory.apply_retention`). Bots
are handled one by one and objects one by one: an unreadable object is skipped (and still
deleted when its expiry is due), a bot whose retention fails is logged and counted
(``ctx_retention_failures``), and the other bots expire on time. A failing pass (Redis down) is
logged, counted and retried at the next interval; it never stops the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from context_service.memory import Memory

log = logging.getLogger(__name__)


class RetentionScheduler:
    """Applies retention every ``interval_s`` seconds until :meth:`stop`.

    ``on_failure(scope)`` is called for every failed bot (scope ``"bot"``), failed market
    evidence purge (``"market"``) or failed pass (``"pass"``); the sidecar counts them.
    """

    def __init__(
        self,
        memory: Memory,
        interval_s: float,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.memory = memory
        self.interval_s = interval_s
        self.on_failure = on_failure or (lambda scope: None)
        self.passes = 0
        self.failures = 0
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
        try:  # a separate job: its failure must not hide the bots' retention
            market_expired = self.memory.purge_market()
        except Exception as exc:
            market_expired = 0
            self.failures += 1
            self.on_failure("market")
            log.warning("market evidence retention failed: %s", exc)
        self.passes += 1
        done = [bot for bot in report.values() if "error" not in bot]
        failed = sorted(bot_id for bot_id, bot in report.items() if "error" in bot)
        for _ in failed:
            self.failures += 1
            self.on_failure("bot")
        log.info(
            "retention pass: %d bots, %d evidence objects expired, %d audit entries trimmed, "
            "%d market evidence objects expired%s",
            len(report),
            sum(bot["evidence_expired"] for bot in done),
            sum(bot["audit_trimmed"] for bot in done),
            market_expired,
            f"; failed for {len(failed)} bots: {', '.join(failed[:10])}" if failed else "",
        )
        return report

    def _run(self) -> None:
        # First pass right away: a sidecar restarted after a long stop catches up at once.
        while not self._stopped.is_set():
            try:
                self.run_once()
            except Exception as exc:  # Redis down: retry next interval
                self.failures += 1
                self.on_failure("pass")
                log.warning("retention pass failed: %s", exc)
            self._stopped.wait(self.interval_s)
