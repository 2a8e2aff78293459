"""The LLM cost ledger: reserve-then-settle against hard caps, atomically in Redis.

Before a call, the worst-case cost (prompt tokens plus ``max_tokens`` of output) is reserved
against the bot's daily cap, the global daily cap and the monthly cap in ONE Lua script: either
every cap has room and all three are charged, or nothing is. After the call, a second script
releases the reservation and charges the actual cost. Concurrent requests therefore cannot
overshoot a cap. All ledger keys share the ``{ctx-ledger}`` hash tag (one cluster slot).

A process that dies between reserve and settle leaves its reservation in place until the day
(or month) key expires: the ledger errs on the side of spending less, never more.
"""

from __future__ import annotations

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


class BudgetExhausted(RuntimeError):
    """A reservation would pass a cap; the call must not be made."""

    def __init__(self, cap: Cap, used_micros: int, amount_micros: int) -> None:
        self.cap = cap
        self.used_micros = used_micros
        self.amount_micros = amount_micros
        super().__init__(
            f"{cap.name} cap {micros_to_usd(cap.limit_micros):.4f} USD for {cap.period} "
            f"would be passed: {micros_to_usd(used_micros):.6f} USD used, call needs up to "
            f"{micros_to_usd(amount_micros):.6f} USD"
        )


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

    def reserve(self, bot_id: str, amount_micros: int, at: datetime) -> Reservation:
        """Set ``amount_micros`` aside on every cap, or raise :class:`BudgetExhausted`."""
        if amount_micros < 0:
            raise ValueError("a reservation cannot be negative")
        caps = self.caps(bot_id, at)
        args = [amount_micros, *(c.limit_micros for c in caps), *(c.ttl_s for c in caps)]
        result = self._reserve(keys=[c.key for c in caps], args=args)
        if int(result[0]) == 0:
            cap = caps[int(result[1]) - 1]
            self._alert_refused(bot_id, cap, int(result[2]), amount_micros)
            raise BudgetExhausted(cap, int(result[2]), amount_micros)
        return Reservation(bot_id, caps, amount_micros)

    def settle(self, reservation: Reservation, actual_micros: int) -> None:
        """Release the reservation and charge what the call really cost."""
        spent = self._settle(
            keys=[c.key for c in reservation.caps],
            args=[reservation.amount_micros, max(0, actual_micros)],
        )
        for cap, total in zip(reservation.caps, spent, strict=True):
            self._alert_levels(reservation.bot_id, cap, int(total))

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
            pipe.hmget(cap.key, ["spent", "reserved"])
        report: dict[str, dict[str, object]] = {}
        for cap, (spent, reserved) in zip(caps, pipe.execute(), strict=True):
            report[cap.name] = {
                "period": cap.period,
                "spent_usd": micros_to_usd(int(spent or 0)),
                "reserved_usd": micros_to_usd(int(reserved or 0)),
                "cap_usd": micros_to_usd(cap.limit_micros),
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
