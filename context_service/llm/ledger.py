"""The LLM cost ledger: reserve-then-settle against hard caps, atomically in Redis.

Before a call, the worst-case cost (prompt tokens plus ``max_tokens`` of output) is reserved
against the bot's daily cap, the global daily cap and the monthly cap in ONE Lua script: either
every cap has room and all three are charged, or nothing is. After the call, a second script
releases the reservation and charges the actual cost. Concurrent requests therefore cannot
overshoot a cap. All ledger keys share the ``{ctx-ledger}`` hash tag (one cluster slot).

Every reservation carries an id and a deadline (the call's timeout plus a grace period) in a
reservation book. A process that dies between reserve and settle leaves its reservation in the
book; the next reservation after the deadline reclaims it (within minutes, not at the period's
end). Settling is one script too, so a settle either happens entirely or not at all; a settle
that never arrives is reclaimed the same way.

The reservation is an upper bound of what a call can be billed (see ``llm/bound.py``). When an
endpoint still reports more, settle charges the real figure, closes every cap of the call to new
reservations until its period ends (or an operator reopens it, :meth:`CostLedger.reopen`) and
alerts: the excess is then at most what the calls already in flight add.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import redis

from context_service.alerts import AlertSink
from context_service.keys import Keyspace, validate_bot_id
from context_service.llm.pricing import micros_to_usd, usd_to_micros
from context_service.settings import Settings

DAY_TTL_S = 3 * 86_400
MONTH_TTL_S = 40 * 86_400
ALERT_LEVELS = (80, 100)
CAP_NAMES = ("bot-daily", "global-daily", "monthly")
DEFAULT_HOLD_S = 120.0


def _script(name: str) -> str:
    return resources.files("context_service.llm").joinpath(name).read_text("utf-8")


def day_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Cap:
    """One hard cap: a ledger key and its limit."""

    name: str  # "bot-daily" | "global-daily" | "monthly"
    key: str
    period: str  # the day or month the key covers
    limit_micros: int
    ttl_s: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money set aside for one call; settle it exactly once."""

    bot_id: str
    caps: tuple[Cap, ...]
    amount_micros: int
    reservation_id: str = ""
    deadline: float = 0.0  # epoch seconds; reclaimed by the ledger after it


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a settle did: the spent totals, and whether the call cost more than reserved."""

    over_reported: bool
    was_reclaimed: bool
    spent_micros: tuple[int, ...]


class BudgetExhausted(RuntimeError):
    """A reservation would pass a cap, or the cap is closed; the call must not be made."""

    def __init__(
        self, cap: Cap, used_micros: int, amount_micros: int, closed: bool = False
    ) -> None:
        self.cap = cap
        self.used_micros = used_micros
        self.amount_micros = amount_micros
        self.closed = closed
        if closed:
            message = (
                f"{cap.name} cap for {cap.period} is closed: an LLM endpoint reported more "
                "usage than was reserved (an operator reopens it: POST /v1/llm/caps/reopen)"
            )
        else:
            message = (
                f"{cap.name} cap {micros_to_usd(cap.limit_micros):.4f} USD for {cap.period} "
                f"would be passed: {micros_to_usd(used_micros):.6f} USD used, call needs up to "
                f"{micros_to_usd(amount_micros):.6f} USD"
            )
        super().__init__(message)


class CostLedger:
    """Reserve, settle and report LLM spend in integer micro-dollars."""

    def __init__(
        self,
        redis_client: redis.Redis,
        keyspace: Keyspace,
        settings: Settings,
        alerts: AlertSink | None = None,
    ) -> None:
        self.redis = redis_client
        self.keyspace = keyspace
        self.settings = settings
        self.alerts = alerts
        self._reserve = redis_client.register_script(_script("ledger_reserve.lua"))
        self._settle = redis_client.register_script(_script("ledger_settle.lua"))

    def caps(self, bot_id: str, at: datetime) -> tuple[Cap, ...]:
        """The three caps a call by ``bot_id`` at ``at`` is charged against."""
        return (self._bot_cap(bot_id, at), *self._global_caps(at))

    def _bot_cap(self, bot_id: str, at: datetime) -> Cap:
        validate_bot_id(bot_id)
        day = day_of(at)
        return Cap(
            "bot-daily",
            self.keyspace.ledger_bot_day(bot_id, day),
            f"{bot_id}/{day}",
            usd_to_micros(self.settings.bot_daily_cap(bot_id)),
            DAY_TTL_S,
        )

    def _global_caps(self, at: datetime) -> tuple[Cap, Cap]:
        s, ks = self.settings, self.keyspace
        day, month = day_of(at), month_of(at)
        return (
            Cap(
                "global-daily",
                ks.ledger_global_day(day),
                day,
                usd_to_micros(s.cap_global_daily_usd),
                DAY_TTL_S,
            ),
            Cap(
                "monthly",
                ks.ledger_month(month),
                month,
                usd_to_micros(s.cap_monthly_usd),
                MONTH_TTL_S,
            ),
        )

    @property
    def _book_keys(self) -> list[str]:
        return [self.keyspace.ledger("reservations"), self.keyspace.ledger("reservations", "due")]

    def reserve(
        self, bot_id: str, amount_micros: int, at: datetime, hold_s: float = DEFAULT_HOLD_S
    ) -> Reservation:
        """Set ``amount_micros`` aside on every cap, or raise :class:`BudgetExhausted`.

        ``hold_s`` is how long the call may take at most: after it, a reservation nobody
        settled (a crashed process) is reclaimed by the next reservation.
        """
        if amount_micros < 0:
            raise ValueError("a reservation cannot be negative")
        caps = self.caps(bot_id, at)
        now = time.time()
        reservation_id = uuid.uuid4().hex
        deadline = now + max(1.0, hold_s)
        args = [
            amount_micros,
            reservation_id,
            f"{now:.3f}",
            f"{deadline:.3f}",
            *(c.limit_micros for c in caps),
            *(c.ttl_s for c in caps),
        ]
        result = self._reserve(keys=[*(c.key for c in caps), *self._book_keys], args=args)
        if int(result[0]) == 0:
            cap, used, closed = caps[int(result[1]) - 1], int(result[2]), bool(int(result[3]))
            if not closed:
                self._alert_refused(bot_id, cap, used, amount_micros)
            raise BudgetExhausted(cap, used, amount_micros, closed=closed)
        return Reservation(bot_id, caps, amount_micros, reservation_id, deadline)

    def settle(self, reservation: Reservation, actual_micros: int) -> Settlement:
        """Release the reservation and charge what the call really cost (atomically).

        A cost above the reservation is charged in full, closes the call's caps and alerts.
        """
        if actual_micros < 0:
            raise ValueError("a cost cannot be negative")
        result = self._settle(
            keys=[*(c.key for c in reservation.caps), *self._book_keys],
            args=[reservation.reservation_id, reservation.amount_micros, actual_micros],
        )
        settlement = Settlement(
            over_reported=bool(int(result[0])),
            was_reclaimed=not int(result[1]),
            spent_micros=tuple(int(total) for total in result[2:]),
        )
        for cap, total in zip(reservation.caps, settlement.spent_micros, strict=True):
            self._alert_levels(reservation.bot_id, cap, total)
        if settlement.over_reported:
            self._alert_over_report(reservation, actual_micros)
        return settlement

    def close(self, reservation: Reservation, reason: str) -> None:
        """Close every cap of ``reservation`` to new calls (an endpoint's usage cannot be
        trusted); alerts like an over-report."""
        pipe = self.redis.pipeline(transaction=False)
        for cap in reservation.caps:
            pipe.hset(cap.key, "closed", reason[:200])
        pipe.execute()
        self._alert_over_report(reservation, None)

    def reopen(
        self, bot_id: str | None, at: datetime, caps: Sequence[str] = CAP_NAMES
    ) -> list[str]:
        """Reopen caps an over-report closed (operator action); returns the caps reopened.

        Without ``bot_id`` only the global caps are reopened.
        """
        unknown = set(caps) - set(CAP_NAMES)
        if unknown:
            raise ValueError(f"unknown caps {sorted(unknown)}; use {', '.join(CAP_NAMES)}")
        chosen = [
            c
            for c in (self.caps(bot_id, at) if bot_id else self._global_caps(at))
            if c.name in caps
        ]
        pipe = self.redis.pipeline(transaction=False)
        for cap in chosen:
            pipe.hdel(cap.key, "closed")
        return [cap.name for cap, removed in zip(chosen, pipe.execute(), strict=True) if removed]

    def open_reservations(self) -> int:
        """Reservations not yet settled or reclaimed (in flight, or left by a crash)."""
        return int(self.redis.hlen(self._book_keys[0]))

    def status(self, bot_id: str | None, at: datetime) -> dict[str, dict[str, object]]:
        """Spent and reserved USD with the cap: the global caps, plus the bot's when given."""
        caps = self.caps(bot_id, at) if bot_id is not None else self._global_caps(at)
        return self._report(caps)

    def bot_status(self, bot_id: str, at: datetime) -> dict[str, object]:
        """The bot's daily cap alone (dashboards, per-bot usage)."""
        return self._report([self._bot_cap(bot_id, at)])["bot-daily"]

    def _report(self, caps: Sequence[Cap]) -> dict[str, dict[str, object]]:
        pipe = self.redis.pipeline(transaction=False)
        for cap in caps:
            pipe.hmget(cap.key, ["spent", "reserved", "closed", "reclaimed"])
        report: dict[str, dict[str, object]] = {}
        for cap, (spent, reserved, closed, reclaimed) in zip(caps, pipe.execute(), strict=True):
            report[cap.name] = {
                "period": cap.period,
                "spent_usd": micros_to_usd(int(spent or 0)),
                "reserved_usd": micros_to_usd(int(reserved or 0)),
                "cap_usd": micros_to_usd(cap.limit_micros),
                "closed": closed is not None,
                "reclaimed_usd": micros_to_usd(int(reclaimed or 0)),
            }
        return report

    # --- alerts --------------------------------------------------------------------------
    def _alert_levels(self, bot_id: str, cap: Cap, spent_micros: int) -> None:
        if self.alerts is None or cap.limit_micros <= 0:
            return
        for level in ALERT_LEVELS:
            if spent_micros * 100 >= cap.limit_micros * level:
                self._fire(bot_id, cap, level, spent_micros)

    def _alert_refused(self, bot_id: str, cap: Cap, used: int, amount: int) -> None:
        if self.alerts is None:
            return
        if cap.limit_micros > 0 and used * 100 >= cap.limit_micros * 80:
            self._fire(bot_id, cap, 80, used)
        self._fire(bot_id, cap, 100, used, refused_micros=amount)

    def _alert_over_report(self, reservation: Reservation, actual: int | None) -> None:
        if self.alerts is None:
            return
        periods = ", ".join(f"{c.name} {c.period}" for c in reservation.caps)
        reported = "absurd usage" if actual is None else f"{micros_to_usd(actual):.6f} USD"
        self.alerts.fire(
            key=f"over-report:{reservation.caps[0].period}",
            level="critical",
            message=f"LLM endpoint reported {reported} for a call reserved at "
            f"{micros_to_usd(reservation.amount_micros):.6f} USD; caps closed ({periods}) "
            "until the period ends or an operator reopens them",
            bot_id=reservation.bot_id,
            data={
                "reserved_usd": micros_to_usd(reservation.amount_micros),
                "actual_usd": None if actual is None else micros_to_usd(actual),
                "caps": [c.name for c in reservation.caps],
            },
        )

    def _fire(self, bot_id: str, cap: Cap, level: int, used: int, refused_micros: int = 0) -> None:
        assert self.alerts is not None
        scope = bot_id if cap.name == "bot-daily" else None
        what = "reached: LLM calls stop" if level == 100 else f"at {level}%"
        self.alerts.fire(
            key=f"cap:{cap.name}:{cap.period}:{level}",
            level="critical" if level == 100 else "warning",
            message=f"LLM {cap.name} cost cap {what} ({micros_to_usd(used):.4f} of "
            f"{micros_to_usd(cap.limit_micros):.4f} USD, {cap.period})",
            bot_id=scope,
            data={
                "cap": cap.name,
                "period": cap.period,
                "used_usd": micros_to_usd(used),
                "cap_usd": micros_to_usd(cap.limit_micros),
                "refused_usd": micros_to_usd(refused_micros),
            },
        )
