"""Records of trade memory: trade events from Freqtrade, closed trades, statistics, audit entries.

Money is in the quote currency of the pair (USDT for the bots we run). Every datetime is
timezone-aware and stored in UTC; a naive datetime is refused, never guessed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from context_service.bounds import FINITE, EventTime
from context_service.contract import BUILD_ID_PATTERN
from context_service.keys import validate_bot_id, validate_trade_id
from context_service.models import as_utc

TradeEventKind = Literal["entry_fill", "exit_fill", "trade_closed"]
ORDER_ID_RE = re.compile(r"^\S{1,128}$")


class TradeEvent(BaseModel):
    """One fact about a trade, as Freqtrade reports it.

    Idempotent by ``(bot_id, trade_id, order_id, event)``: recording it twice changes nothing.
    A ``trade_closed`` event conventionally uses ``order_id="close"``.

    For ``trade_closed``: ``realized_profit`` is the trade's profit *after* exchange fees
    (Freqtrade's ``close_profit_abs``) and ``fee_quote`` the total fees the trade paid (entry
    and exit), so the gross profit is ``realized_profit + fee_quote``. ``time`` is the fill time
    for fills and the close time for ``trade_closed``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, **FINITE)

    bot_id: str
    trade_id: int | str
    order_id: Annotated[str, Field(min_length=1, max_length=128)]
    event: TradeEventKind
    pair: Annotated[str, Field(min_length=3, max_length=64)]
    side: Literal["buy", "sell"]
    time: EventTime
    price: float = Field(ge=0)
    amount: float = Field(ge=0)
    stake: float = Field(default=0.0, ge=0, description="Stake in quote currency.")
    fee_quote: float = Field(default=0.0, ge=0, description="Fees paid, in quote currency.")
    realized_profit: float | None = None
    open_time: EventTime | None = None
    close_time: EventTime | None = None
    exit_reason: str | None = Field(default=None, max_length=255)  # Freqtrade allows 255
    verdict_id: str | None = Field(default=None, max_length=256)
    manifest_id: str | None = Field(default=None, max_length=256)
    context_hash: str | None = Field(default=None, max_length=256)
    confidence: float | None = Field(default=None, ge=0, le=1)
    strategy_version: str | None = Field(default=None, pattern=BUILD_ID_PATTERN)
    config_hash: str | None = Field(default=None, pattern=BUILD_ID_PATTERN)

    @field_validator("bot_id")
    @classmethod
    def _bot_id(cls, value: str) -> str:
        return validate_bot_id(value)

    @field_validator("trade_id")
    @classmethod
    def _trade_id(cls, value: int | str) -> int | str:
        return validate_trade_id(value)

    @field_validator("order_id")
    @classmethod
    def _order_id(cls, value: str) -> str:
        if not ORDER_ID_RE.fullmatch(value):
            raise ValueError("order_id must be 1-128 characters without whitespace")
        return value

    @field_validator("time", "open_time", "close_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _closed_trade_complete(self) -> TradeEvent:
        if self.event == "trade_closed":
            missing = [
                name for name in ("realized_profit", "open_time") if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a trade_closed event needs {', '.join(missing)}")
            if self.open_time and self.open_time > self.time:
                raise ValueError("open_time is later than the close time")
        return self

    @property
    def key(self) -> str:
        """Identity within the bot; order id last, so ':' inside it stays unambiguous."""
        return f"{self.trade_id}:{self.event}:{self.order_id}"


class ClosedTrade(BaseModel):
    """A finished trade: what statistics and insights are computed from."""

    model_config = ConfigDict(extra="forbid", frozen=True, **FINITE)

    trade_id: str
    pair: str
    open_time: AwareDatetime
    close_time: AwareDatetime
    stake: float
    net_profit: float = Field(description="Realised profit after exchange fees (quote).")
    fees: float = Field(ge=0)
    exit_reason: str | None = None
    verdict_id: str | None = None
    manifest_id: str | None = None
    context_hash: str | None = None
    confidence: float | None = None
    strategy_version: str | None = None
    config_hash: str | None = None

    @property
    def gross_profit(self) -> float:
        return self.net_profit + self.fees

    @property
    def entry_hour(self) -> int:
        return self.open_time.hour  # datetimes are UTC

    @classmethod
    def from_event(cls, event: TradeEvent, entry: dict[str, Any] | None = None) -> ClosedTrade:
        """Build from a ``trade_closed`` event; ``entry`` fills verdict fields it left out."""
        entry = entry or {}
        return cls(
            trade_id=str(event.trade_id),
            pair=event.pair,
            open_time=event.open_time,  # type: ignore[arg-type]  # checked by TradeEvent
            close_time=event.close_time or event.time,
            stake=event.stake,
            net_profit=float(event.realized_profit or 0.0),
            fees=event.fee_quote,
            exit_reason=event.exit_reason,
            verdict_id=event.verdict_id or entry.get("verdict_id"),
            manifest_id=event.manifest_id or entry.get("manifest_id"),
            context_hash=event.context_hash or entry.get("context_hash"),
            confidence=event.confidence
            if event.confidence is not None
            else entry.get("confidence"),
            strategy_version=event.strategy_version or entry.get("strategy_version"),
            config_hash=event.config_hash or entry.get("config_hash"),
        )


class GroupStats(BaseModel):
    """Record of one slice of trades (a pair, an hour, an exit reason, a confidence bucket)."""

    trades: int = 0
    wins: int = 0
    losses: int = 0
    win_ratio: float | None = None
    net_pnl: float = 0.0
    avg_net: float | None = None
    profit_factor: float | None = None


class TradeStats(BaseModel):
    """A bot's trading record as of a moment (``as_of`` None: everything recorded)."""

    bot_id: str
    as_of: AwareDatetime | None = None
    trades: int = 0
    wins: int = 0
    losses: int = 0
    breakeven: int = 0
    win_ratio: float | None = Field(default=None, description="wins / trades")
    gross_pnl: float = Field(default=0.0, description="Realised PnL before exchange fees.")
    fees: float = 0.0
    net_pnl: float = Field(default=0.0, description="Realised PnL after exchange fees.")
    llm_cost: float = Field(default=0.0, description="LLM spend (USD) recorded up to as_of.")
    net_after_llm: float = Field(default=0.0, description="net_pnl - llm_cost.")
    avg_win: float | None = None
    avg_loss: float | None = None
    profit_factor: float | None = Field(
        default=None, description="Sum of wins / |sum of losses|; None without losses."
    )
    expectancy: float | None = Field(default=None, description="Average net PnL per trade.")
    max_drawdown: float = Field(
        default=0.0, description="Largest peak-to-trough fall of cumulative net PnL (quote)."
    )
    first_close: AwareDatetime | None = None
    last_close: AwareDatetime | None = None
    by_pair: dict[str, GroupStats] = Field(default_factory=dict)
    by_hour: dict[str, GroupStats] = Field(default_factory=dict)
    by_exit_reason: dict[str, GroupStats] = Field(default_factory=dict)
    by_confidence: dict[str, GroupStats] = Field(default_factory=dict)


class AuditEntry(BaseModel):
    """One entry of a bot's audit trail (a synthesis, a verdict, a trade...)."""

    id: str = Field(description="Redis stream entry id.")
    kind: str
    at: AwareDatetime
    payload: dict[str, Any]
