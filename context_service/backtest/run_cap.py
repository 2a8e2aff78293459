"""A per-run cap on LLM spend (``--max-usd``, ``CTX_BACKTEST_MAX_USD``) and the run's spend.

The cap sits in front of the cost ledger, with the ledger's own rule: before a call, its worst
case (the reservation) must fit under the cap with everything the run already reserved and was
charged; after it, the reservation is replaced by what the call really cost. A call that does
not fit is not made: the ``llm`` provider is skipped with ``run_cap`` and the chain falls back
(to the rules), which the verdict and the summary record. The bot, global and monthly caps of the
ledger still apply as always.

The run's figure lives in Redis (``Keyspace.ledger_run``), so forked evaluation workers and the
masked sample share one cap. It is kept whether or not a cap is set: the summary reports what
the run was charged, failed calls included (a timed-out request may have been billed).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis

from context_service.keys import Keyspace
from context_service.llm.ledger import DEFAULT_HOLD_S, BudgetExhausted, Cap, Reservation
from context_service.llm.pricing import micros_to_usd, usd_to_micros
from context_service.settings import Settings
from context_service.verdicts.provider import Ask, Decision, ProviderSkipped, VerdictProvider

RUN_CAP = "run_cap"
RUN_TTL_S = 7 * 86_400


@dataclass(frozen=True)
class RunSpend:
    """One run's id and cap (None: no cap, spend is only counted)."""

    cap_usd: Decimal | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The ledgers built in this process (a forked worker's stay in the worker).
    ledgers: list[RunLedger] = field(default_factory=list, compare=False, repr=False)

    @property
    def cap_micros(self) -> int | None:
        return None if self.cap_usd is None else usd_to_micros(self.cap_usd)

    def spent_usd(self, settings: Settings, key_prefix: str) -> float:
        """What the run reserved and was charged so far (after the run: charged), read with
        a connection this process already has when it built a ledger."""
        if self.ledgers:
            ledger = self.ledgers[0]
            return micros_to_usd(int(ledger.redis.get(ledger.key) or 0))
        from context_service.memory.connection import connect

        client = connect(settings)
        return micros_to_usd(int(client.get(Keyspace(key_prefix).ledger_run(self.run_id)) or 0))


class RunLedger:
    """The cost ledger behind a run's cap (the other methods are the ledger's own)."""

    def __init__(self, inner: Any, client: redis.Redis, key: str, cap_micros: int | None) -> None:
        self.inner = inner
        self.redis = client
        self.key = key
        self.cap_micros = cap_micros
        self.refused = False  # the last reservation was refused by the run cap

    def reserve(
        self, bot_id: str, amount_micros: int, at: datetime, hold_s: float = DEFAULT_HOLD_S
    ) -> Reservation:
        self.refused = False
        pipe = self.redis.pipeline(transaction=False)
        pipe.incrby(self.key, amount_micros)
        pipe.expire(self.key, RUN_TTL_S)
        total = int(pipe.execute()[0])
        if self.cap_micros is not None and total > self.cap_micros:
            # Taken back at once: concurrent workers may refuse a call spuriously near the cap,
            # but the sum of their reservations can never pass it.
            self.redis.decrby(self.key, amount_micros)
            self.refused = True
            cap = Cap("run", self.key, "this run", self.cap_micros, RUN_TTL_S)
            raise BudgetExhausted(cap, total - amount_micros, amount_micros)
        try:
            return self.inner.reserve(bot_id, amount_micros, at, hold_s=hold_s)
        except BaseException:
            self.redis.decrby(self.key, amount_micros)
            raise

    def settle(self, reservation: Reservation, actual_micros: int) -> Any:
        self.redis.incrby(self.key, actual_micros - reservation.amount_micros)
        return self.inner.settle(reservation, actual_micros)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def run_capped_provider(base: type[VerdictProvider], run: RunSpend) -> type[VerdictProvider]:
    """``base`` (the registered ``llm`` provider) with its ledger behind ``run``'s cap."""

    class RunCappedLLMProvider(base):  # type: ignore[valid-type, misc]
        """The LLM provider of one run: its spend counted, and capped when a cap is set."""

        run_ledger: RunLedger | None = None

        @classmethod
        def build(cls, components: Any) -> VerdictProvider:
            ledger = RunLedger(
                components.ledger,
                components.redis,
                components.keyspace.ledger_run(run.run_id),
                run.cap_micros,
            )
            provider = super().build(dataclasses.replace(components, ledger=ledger))
            provider.run_ledger = ledger
            run.ledgers.append(ledger)
            return provider

        def decide(self, ask: Ask) -> Decision:
            ledger = self.run_ledger
            if ledger is not None:
                ledger.refused = False  # a skip before any reservation is not the cap's
            try:
                return super().decide(ask)
            except ProviderSkipped as skipped:
                if ledger is not None and ledger.refused:
                    raise ProviderSkipped(RUN_CAP, skipped.detail, skipped.audit) from None
                raise

    return RunCappedLLMProvider
