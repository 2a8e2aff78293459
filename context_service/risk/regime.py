"""Deterministic responses to volatility regimes: scale the stake, pause entries, tighten the stop.

The responses are configured in the knowledge file (``regime:`` section, see
:mod:`context_service.knowledge`) and enforced here, in the risk layer, whatever a verdict says:
a response can only reduce risk (a stake scale and a stop scale are at most 1), never widen it.

Both the pair's own regime and the market's (read from its reference pair, BTC/USDT) are
considered; each response says which of them it answers (``scope``), and when several apply the
most cautious wins (smallest scales, any pause).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from context_service.regime.detector import Regime, RegimeParams

Scope = Literal["market", "pair", "any"]


class RegimeResponse(BaseModel):
    """What to do while a regime holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope = Field(
        default="any", description="Whose regime triggers it: the market's, the pair's, either."
    )
    stake_scale: float = Field(default=1.0, gt=0, le=1, description="Multiplies the stake.")
    pause_entries: bool = Field(default=False, description="Refuse new entries.")
    trailing_stop_scale: float = Field(
        default=1.0, gt=0, le=1, description="Multiplies the ATR trailing distance (tighter)."
    )

    def applies(self, scope: str) -> bool:
        return self.scope == "any" or self.scope == scope


class RegimeConfig(BaseModel):
    """The knowledge file's ``regime`` section: how regimes are detected and answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    market_pair: str = Field(
        default="BTC/USDT",
        pattern=r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$",
        description="The pair whose regime is the market's.",
    )
    detection: RegimeParams = Field(default_factory=RegimeParams)
    responses: dict[Regime, RegimeResponse] = Field(default_factory=dict)

    @field_validator("responses", mode="before")
    @classmethod
    def _known_regimes(cls, value: object) -> object:
        if isinstance(value, dict):
            choices = [r.value for r in Regime if r is not Regime.unknown]
            unknown = [k for k in value if k not in choices]
            if unknown:
                raise ValueError(
                    f"unknown regime(s) {', '.join(map(repr, unknown))}; use some of "
                    + ", ".join(choices)
                )
        return value


@dataclass(frozen=True, slots=True)
class RegimeAction:
    """The combined response at one moment; ``reasons`` say which regime caused which part."""

    stake_scale: float = 1.0
    pause_entries: bool = False
    trailing_stop_scale: float = 1.0
    reasons: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.pause_entries or self.stake_scale < 1 or self.trailing_stop_scale < 1


NO_ACTION = RegimeAction()


def respond(
    config: RegimeConfig | None, pair_regime: str | None, market_regime: str | None
) -> RegimeAction:
    """The response to the pair's and the market's regimes (either may be None: unknown)."""
    if config is None or not config.enabled or not config.responses:
        return NO_ACTION
    stake, stop, pause = 1.0, 1.0, False
    reasons: list[str] = []
    for scope, name in (("market", market_regime), ("pair", pair_regime)):
        if not name or name == Regime.unknown:
            continue
        response = config.responses.get(Regime(name))
        if response is None or not response.applies(scope):
            continue
        parts = []
        if response.pause_entries:
            pause = True
            parts.append("entries paused")
        if response.stake_scale < 1:
            stake = min(stake, response.stake_scale)
            parts.append(f"stake x{response.stake_scale:g}")
        if response.trailing_stop_scale < 1:
            stop = min(stop, response.trailing_stop_scale)
            parts.append(f"trailing stop x{response.trailing_stop_scale:g}")
        if parts:
            reasons.append(f"{scope} {name}: {', '.join(parts)}")
    return RegimeAction(stake, pause, stop, tuple(reasons))


@dataclass
class RegimeResponseStats:
    """How often each response fired in a run (the backtest summary and the dashboard)."""

    entries_paused: int = 0
    stakes_scaled: int = 0
    stops_tightened: int = 0
    by_regime: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, action: RegimeAction) -> None:
        if kind == "pause":
            self.entries_paused += 1
        elif kind == "stake":
            self.stakes_scaled += 1
        elif kind == "stop":
            self.stops_tightened += 1
        else:
            raise ValueError(f"unknown response kind {kind!r}")
        for reason in action.reasons:
            self.by_regime[reason.split(":", 1)[0]] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "entries_paused": self.entries_paused,
            "stakes_scaled": self.stakes_scaled,
            "stops_tightened": self.stops_tightened,
            "by_regime": dict(self.by_regime),
        }
