"""What a bot asks for and what it gets back: verdict requests, decisions and verdicts.

These models are the contract between the strategy (over HTTP or in-process), the sidecar's
verdict providers and the audit trail. They sit below every package (``llm`` and ``verdicts``
both read them), so neither package needs the other to describe a request.
``context_service.verdicts.models`` re-exports them under their historical import path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from context_service.adjustments import Adjustment, AdjustmentLimits
from context_service.bounds import FINITE, PAIR_PATTERN, EventTime
from context_service.keys import validate_bot_id, validate_trade_id
from context_service.models import as_utc, utcnow

BUILD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
# A verdict provider's registered name: what chains, ``--provider`` and ``Verdict.source`` use.
PROVIDER_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"


class Action(StrEnum):
    buy = "buy"
    sell = "sell"
    hold = "hold"


class VerdictSource(StrEnum):
    """The names of the built-in providers. ``Verdict.source`` is any registered provider's
    name; these constants only spare the built-ins' callers a string literal."""

    replay = "replay"
    llm = "llm"
    rules = "rules"
    hold = "hold"


class TASnapshot(BaseModel):
    """A compact technical-analysis snapshot of one pair at one closed candle."""

    model_config = ConfigDict(extra="forbid", **FINITE)

    pair: str = Field(pattern=PAIR_PATTERN)
    # A zero timeframe ("0m") would make a snapshot expire the moment it is observed.
    timeframe: str = Field(pattern=r"^[1-9]\d{0,2}[mhdwM]$")
    candle_time: EventTime
    close: float = Field(gt=0)
    rsi: float = Field(ge=0, le=100)
    macd: float
    macd_signal: float
    macd_hist: float
    ema_fast: float = Field(gt=0)
    ema_slow: float = Field(gt=0)
    ema_trend: float = Field(gt=0)
    atr: float = Field(ge=0)
    bb_lower: float
    bb_middle: float
    bb_upper: float
    volume: float = Field(ge=0)
    volume_mean: float | None = Field(default=None, ge=0)

    _to_utc = field_validator("candle_time")(lambda cls, v: as_utc(v))

    @property
    def atr_pct(self) -> float:
        return self.atr / self.close

    def summary_line(self) -> str:
        """One line for the working memory (market-data lane)."""
        trend = "up" if self.ema_fast > self.ema_slow else "down"
        return (
            f"{self.pair} {self.timeframe} close {self.close:.6g} | RSI {self.rsi:.1f} | "
            f"MACD hist {self.macd_hist:+.4g} | EMA trend {trend} "
            f"(fast {self.ema_fast:.6g}, slow {self.ema_slow:.6g}, long {self.ema_trend:.6g}) | "
            f"ATR {self.atr_pct:.2%} | BB {self.bb_lower:.6g}..{self.bb_upper:.6g}"
        )


class OpenPosition(BaseModel):
    """The bot's open trade on the pair, if any."""

    model_config = ConfigDict(extra="forbid", **FINITE)

    # Reaches the prompt: an integer or a short id (same rule as trade events).
    trade_id: int | str
    open_rate: float = Field(gt=0)
    amount: float = Field(gt=0)
    stake: float = Field(gt=0)
    opened_at: EventTime
    current_profit_ratio: float = Field(default=0.0, ge=-1, le=1_000)

    @field_validator("trade_id")
    @classmethod
    def _trade_id(cls, value: int | str) -> int | str:
        return validate_trade_id(value)


class VerdictRequest(BaseModel):
    """A bot asking whether to act on a candidate signal."""

    model_config = ConfigDict(extra="forbid", **FINITE)

    bot_id: str
    pair: str = Field(pattern=PAIR_PATTERN)
    candle_time: EventTime
    candidate: Literal["entry", "exit"] = "entry"
    snapshot: TASnapshot
    position: OpenPosition | None = None
    budget_tokens: int | None = Field(default=None, ge=50, le=128_000)
    as_of: EventTime | None = Field(
        default=None,
        description="Point-in-time context (backtests). Defaults to candle_time in backtests.",
    )
    strategy_version: str | None = Field(
        default=None, pattern=BUILD_ID_PATTERN, description="The asking bot's commit."
    )
    config_hash: str | None = Field(
        default=None, pattern=BUILD_ID_PATTERN, description="Hash of the asking bot's config."
    )
    adjustment_limits: AdjustmentLimits | None = Field(
        default=None,
        description="The bot's limits of LLM adjustments (its knowledge file's adjustments: "
        "section, resolved); absent: the defaults.",
    )

    _bot = field_validator("bot_id")(lambda cls, v: validate_bot_id(v))
    _times = field_validator("candle_time", "as_of")(
        lambda cls, v: None if v is None else as_utc(v)
    )

    @model_validator(mode="after")
    def _snapshot_answers_request(self) -> VerdictRequest:
        # The snapshot is what the verdict is about: another pair or candle would file the
        # verdict under one candle while deciding on another.
        if self.snapshot.pair != self.pair:
            raise ValueError(
                f"snapshot.pair {self.snapshot.pair!r} differs from pair {self.pair!r}"
            )
        if self.snapshot.candle_time != self.candle_time:
            raise ValueError(
                f"snapshot.candle_time {self.snapshot.candle_time.isoformat()} differs from "
                f"candle_time {self.candle_time.isoformat()}"
            )
        return self


class Verdict(BaseModel):
    """The answer: an action with a confidence, where it came from, and why."""

    model_config = ConfigDict(extra="forbid")

    verdict_id: str
    bot_id: str
    pair: str
    candle_time: datetime
    candidate: Literal["entry", "exit"] = "entry"
    action: Action
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(max_length=2000)
    evidence_ids: list[str] = Field(default_factory=list)
    source: str = Field(
        pattern=PROVIDER_NAME_PATTERN,
        description="The registered name of the provider that answered.",
    )
    fallback_reason: str | None = Field(
        default=None, description="Why earlier providers of the chain were skipped or failed."
    )
    context_hash: str | None = None
    manifest_id: str | None = None
    context_tokens: int = 0
    context_encoding: str | None = Field(
        default=None,
        description="How context_tokens were counted: a tiktoken encoding or "
        "'utf8-bytes' (no encoding loadable; an upper bound).",
    )
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)
    strategy_version: str | None = Field(
        default=None, description="The commit of the strategy that asked (traceability)."
    )
    config_hash: str | None = Field(default=None, description="Hash of the bot's config.")
    adjustments: list[Adjustment] | None = Field(
        default=None,
        max_length=256,
        description="The bot's adjustments in force as of the decision (CTX_APPLY_ADJUSTMENTS); "
        "null: none known (off, or unreadable: the bot applies none).",
    )


def snapshot_evidence_id(snapshot: TASnapshot) -> str:
    """The evidence id of a TA snapshot: one object per pair and timeframe (each new candle
    replaces the last). Here, below ``llm`` and ``verdicts``, because both need it."""
    return f"ta:{snapshot.pair}:{snapshot.timeframe}"


def request_line(request: VerdictRequest, indicators: bool = True) -> str:
    """What is being decided: the candidate, the pair, the candle, the indicators (left out of
    the prompt when the working memory already carries them) and any open position (part of
    the replay key)."""
    kind = "ENTRY (buy)" if request.candidate == "entry" else "EXIT (sell)"
    lines = [
        f"Candidate: {kind} on {request.pair}, {request.snapshot.timeframe} candle closed at "
        f"{request.candle_time.isoformat()}."
    ]
    if indicators:
        lines.append(f"Latest indicators: {request.snapshot.summary_line()}")
    if request.position is None:
        lines.append("Open position on this pair: none.")
    else:
        p = request.position
        lines.append(
            f"Open position on this pair: trade {p.trade_id}, opened {p.opened_at.isoformat()} at "
            f"{p.open_rate:.8g}, stake {p.stake:.6g}, current profit {p.current_profit_ratio:+.2%}."
        )
    return "\n".join(lines)


@dataclass(slots=True)
class Decision:
    """What one provider answered, before the service makes it a :class:`Verdict`.

    The one decision type of every provider (``context_service.verdicts.provider`` re-exports
    it). ``verdict_id`` keeps an id the provider already has (a replayed verdict's);
    ``replayable`` asks the service to keep the verdict in the replay cache (an answer that
    cost money and can be replayed for free); ``cost_usd`` is charged to the bot's trade
    memory; ``audit`` is stored with the verdict under the provider's name.
    """

    action: Action
    confidence: float
    rationale: str
    evidence_ids: list[str] = field(default_factory=list)
    verdict_id: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    replayable: bool = False
    audit: dict[str, Any] | None = None
