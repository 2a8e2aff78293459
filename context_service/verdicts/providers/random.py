"""``random``: the control gate. Approves entries and exits at fixed rates, seeded.

``evaluate`` runs it with the approval rates the real gate had on the same data, so "does the
gate add value?" is answered against a gate that approves just as often but knows nothing.

Each decision is a pure function of (seed, pair, candle, candidate): a SHA-256 of those, read
as a number in [0, 1), is compared with the rate. So the answer for a candle does not depend on
the order of calls, on how many other pairs were asked before it, or on the process: two runs
with one seed make the same decisions, and a variant that asks about a candle the gated run never
reached still gets a reproducible answer.

Configured from the environment (``CTX_RANDOM_SEED``, ``CTX_RANDOM_ENTRY_RATE``,
``CTX_RANDOM_EXIT_RATE``), or directly with :class:`RandomGateParams`.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from context_service.verdicts.models import Action
from context_service.verdicts.provider import Ask, Decision, VerdictProvider, register

_SCALE = float(1 << 64)


class RandomGateParams(BaseSettings):
    """The random gate's seed and approval rates (``CTX_RANDOM_*``)."""

    model_config = SettingsConfigDict(env_prefix="CTX_RANDOM_", extra="ignore")

    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    entry_rate: float = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    exit_rate: float = Field(default=0.5, ge=0.0, le=1.0, allow_inf_nan=False)


def draw(seed: int, pair: str, candle_time: datetime, candidate: str) -> float:
    """The uniform number in [0, 1) of one decision; the same inputs always give the same one."""
    key = f"{seed}|{pair}|{int(candle_time.timestamp())}|{candidate}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / _SCALE


@register
class RandomProvider(VerdictProvider):
    name = "random"
    summary = "control: approves entries and exits at fixed rates, seeded, knows nothing"
    needs = "CTX_RANDOM_SEED, CTX_RANDOM_ENTRY_RATE, CTX_RANDOM_EXIT_RATE"
    # Decides from the request alone: evaluate may skip context synthesis for it.
    reads_context = False

    def __init__(self, params: RandomGateParams | None = None) -> None:
        self.params = params or RandomGateParams()
        for rate in (self.params.entry_rate, self.params.exit_rate):
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                raise ValueError(f"random gate rates must be within [0, 1], got {rate!r}")

    @classmethod
    def build(cls, components: Any) -> RandomProvider:
        return cls(RandomGateParams())

    def decide(self, ask: Ask) -> Decision:
        request = ask.request
        candidate = request.candidate
        value = draw(self.params.seed, request.pair, request.candle_time, candidate)
        rate = self.params.entry_rate if candidate == "entry" else self.params.exit_rate
        approve = value < rate
        act = (Action.buy if candidate == "entry" else Action.sell) if approve else Action.hold
        why = "approve" if approve else "refuse"
        return Decision(
            act,
            1.0,
            f"random gate seed {self.params.seed}: draw {value:.4f} vs {candidate} rate "
            f"{rate:.4f} -> {why}",
        )
