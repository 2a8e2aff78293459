"""The fleet monitor: polls every bot and raises (and clears) operator alerts.

Alerts go through the sidecar's :class:`~context_service.alerts.AlertSink` (log + webhook,
de-duplicated in Redis): a bot unreachable for ``unreachable_after`` polls in a row, a bot whose
Freqtrade is not running, a bot whose loss today passed its daily loss limit, and each CRITICAL
line in a bot's log. Cost caps and the circuit breaker are alerted by the sidecar itself where
they happen.

Critical errors (:mod:`context_service.risk.critical`: repeated exchange errors, an impossible
budget-guard refusal, the cost ledger unreachable while the LLM is on) also stop the bot: the
monitor pauses it through the fleet kill switch (no new entries, open trades still managed)
and raises a critical alert saying why and whether the pause worked. A bot is stopped once per
triggering log line: after an operator resumes it, only newer errors stop it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from context_service.alerts import AlertSink
from context_service.fleet.botapi import BotStatus, bot_url, fetch_bot_status
from context_service.fleet.killswitch import SwitchResult, switch_bot
from context_service.fleet.model import BotSpec
from context_service.risk.critical import AutoStopPolicy

log = logging.getLogger("context_service.dashboard.monitor")

CRITICAL_HORIZON_S = 24 * 3600
Fetch = Callable[[BotSpec, str, str | None, str | None], BotStatus]
Switch = Callable[[str, str, str | None, str | None, str], SwitchResult]


def unreachable_key(bot_id: str) -> str:
    return f"bot:{bot_id}:unreachable"


def stopped_key(bot_id: str) -> str:
    return f"bot:{bot_id}:not-running"


def daily_loss_key(bot_id: str, day: str) -> str:
    return f"bot:{bot_id}:daily-loss:{day}"


def critical_key(bot_id: str, at_ms: float) -> str:
    return f"bot:{bot_id}:critical:{int(at_ms)}"


def auto_stop_key(bot_id: str, at_ms: float) -> str:
    return f"bot:{bot_id}:auto-stopped:{int(at_ms)}"


class FleetMonitor:
    """Poll the bots of the fleet file; keep the latest status of each; fire alerts."""

    def __init__(
        self,
        bots: Sequence[BotSpec],
        alerts: AlertSink,
        url_template: str,
        username: str | None = None,
        password: str | None = None,
        *,
        interval_s: float = 30.0,
        unreachable_after: int = 2,
        fetch: Fetch = fetch_bot_status,
        auto_stop: AutoStopPolicy | None = None,
        switch: Switch = switch_bot,
    ) -> None:
        self.bots = list(bots)
        self.alerts = alerts
        self.url_template = url_template
        self._username = username
        self._password = password
        self.interval_s = interval_s
        self.unreachable_after = unreachable_after
        self._fetch = fetch
        self.auto_stop = auto_stop
        self._switch = switch
        self._stopped_after: dict[str, float] = {}  # bot id -> the log line that stopped it
        self._failures: dict[str, int] = {}
        self._latest: dict[str, BotStatus] = {}
        self._lock = threading.Lock()  # guards _latest
        self._poll_lock = threading.Lock()  # one poll at a time: failure counts stay per round
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- polling -------------------------------------------------------------------------
    def poll_once(self) -> dict[str, BotStatus]:
        """Poll every bot once, update alerts, and return the statuses by bot id."""
        with self._poll_lock:
            return self._poll()

    def _poll(self) -> dict[str, BotStatus]:
        results: dict[str, BotStatus] = {}
        for bot in self.bots:
            status = self._fetch(
                bot, bot_url(self.url_template, bot), self._username, self._password
            )
            results[bot.id] = status
            try:
                self._alert(bot, status)
            except Exception:  # an alert problem must not stop the polling
                log.exception("alerting failed for bot %s", bot.id)
        with self._lock:
            self._latest.update(results)
        return results

    def last_statuses(self) -> dict[str, BotStatus]:
        """The statuses of the last poll as they are, never polling (metrics scrapes)."""
        with self._lock:
            return dict(self._latest)

    def latest(self) -> dict[str, BotStatus]:
        """The last status of each bot. Before the first poll has finished, waits for the one
        in flight (the background thread's) or runs one: bots are never polled twice at once."""
        with self._lock:
            have = dict(self._latest)
        if len(have) == len(self.bots):
            return have
        with self._poll_lock:
            with self._lock:
                have = dict(self._latest)
            return have if len(have) == len(self.bots) else self._poll()

    # --- alerts --------------------------------------------------------------------------
    def _alert(self, bot: BotSpec, status: BotStatus) -> None:
        if not status.reachable:
            self._failures[bot.id] = self._failures.get(bot.id, 0) + 1
            if self._failures[bot.id] >= self.unreachable_after:
                self.alerts.fire(
                    unreachable_key(bot.id),
                    "critical",
                    f"bot {bot.id} unreachable at {status.url}: {status.error}",
                    bot_id=bot.id,
                    data={"failures": self._failures[bot.id]},
                )
            return
        self._failures[bot.id] = 0
        self.alerts.resolve(unreachable_key(bot.id))
        if status.state not in (None, "running"):
            self.alerts.fire(
                stopped_key(bot.id),
                "warning",
                f"bot {bot.id} is {status.state}: it opens no trades",
                bot_id=bot.id,
            )
        else:
            self.alerts.resolve(stopped_key(bot.id))
        self._alert_critical_lines(bot, status)
        self._stop_on_critical_errors(bot, status)
        limit = bot.daily_loss_limit_usdt
        today = status.today_profit_abs
        if today is not None and Decimal(str(today)) <= -limit:
            day = status.checked_at.astimezone(UTC).date().isoformat()
            self.alerts.fire(
                daily_loss_key(bot.id, day),
                "critical",
                f"bot {bot.id} lost {-today:.2f} USDT today, past its daily loss limit of "
                f"{limit:.2f} USDT ({bot.daily_loss_limit_pct}% of {bot.budget_usdt})",
                bot_id=bot.id,
                data={"today_profit_abs": today, "limit_usdt": float(limit)},
            )

    def _alert_critical_lines(self, bot: BotSpec, status: BotStatus) -> None:
        """One alert per CRITICAL log line of the last day (keyed by its time: no repeats)."""
        horizon_ms = (status.checked_at.timestamp() - CRITICAL_HORIZON_S) * 1000
        for line in status.problems:
            if line.level == "CRITICAL" and line.at_ms >= horizon_ms:
                self.alerts.fire(
                    critical_key(bot.id, line.at_ms),
                    "critical",
                    f"bot {bot.id} logged a critical error: {line.message[:300]}",
                    bot_id=bot.id,
                    data={"logger": line.logger, "at_ms": line.at_ms},
                )

    def _stop_on_critical_errors(self, bot: BotSpec, status: BotStatus) -> None:
        """Pause the bot through the kill switch when its log shows a critical error."""
        if self.auto_stop is None:
            return
        after = self._stopped_after.get(bot.id, -1.0)
        reason = self.auto_stop.stop_reason(status.problems, status.checked_at, after)
        if reason is None:
            return
        self._stopped_after[bot.id] = reason.at_ms
        key = auto_stop_key(bot.id, reason.at_ms)
        if self.alerts.is_active(key):
            return  # stopped for this line already (e.g. before a monitor restart)
        if status.state == "running":
            result = self._switch(bot.id, status.url, self._username, self._password, "pause")
            outcome = (
                f"paused through the kill switch ({result.message})"
                if result.ok
                else f"the kill switch FAILED ({result.message}): pause it by hand"
            )
        else:
            outcome = f"left {status.state}"
        log.error("bot %s stopped automatically: %s: %s", bot.id, reason.kind, reason.message)
        self.alerts.fire(
            key,
            "critical",
            f"bot {bot.id} stopped on a critical error ({reason.kind}): {reason.message}; "
            f"{outcome}",
            bot_id=bot.id,
            data={"kind": reason.kind.value, "at_ms": reason.at_ms, "outcome": outcome},
        )

    # --- background thread ---------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fleet-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            started = datetime.now(UTC)
            try:
                self.poll_once()
            except Exception:  # keep monitoring whatever one poll hit
                log.exception("fleet poll failed")
            spent = (datetime.now(UTC) - started).total_seconds()
            self._stop.wait(max(1.0, self.interval_s - spent))
