"""What one bot says about itself, read from its Freqtrade REST API with ``FtRestClient``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
from freqtrade_client import FtRestClient
from pydantic import BaseModel, Field

from context_service.fleet.model import BotSpec

DEFAULT_TIMEOUT_S = 3.0
LOG_LINES = 200
PROBLEM_LEVELS = frozenset({"ERROR", "CRITICAL"})


class OpenTrade(BaseModel):
    trade_id: int | None = None
    pair: str
    open_date: str | None = None
    stake_amount: float | None = None
    profit_pct: float | None = None
    profit_abs: float | None = None


class LogLine(BaseModel):
    """One ERROR or CRITICAL line of the bot's log (Freqtrade's ``/logs``)."""

    at_ms: float
    level: str
    logger: str
    message: str


class BotStatus(BaseModel):
    """One poll of one bot; ``reachable`` False means nothing else could be read."""

    bot_id: str
    url: str
    checked_at: datetime
    reachable: bool
    error: str | None = None
    state: str | None = None  # running | stopped | paused (Freqtrade's state)
    dry_run: bool | None = None
    strategy: str | None = None
    open_trades: list[OpenTrade] = Field(default_factory=list)
    max_open_trades: int | None = None
    trade_count: int | None = None
    closed_trade_count: int | None = None
    profit_closed_abs: float | None = None
    profit_all_abs: float | None = None
    winrate: float | None = None
    max_drawdown_abs: float | None = None
    today_profit_abs: float | None = None
    problems: list[LogLine] = Field(
        default_factory=list, description="ERROR/CRITICAL lines among the last log lines"
    )


class BotApiError(RuntimeError):
    """A bot answered, but not with what Freqtrade's API returns (e.g. a wrong login)."""


def bot_url(template: str, bot: BotSpec) -> str:
    return template.format(bot_id=bot.id, port=bot.api_port, service=bot.service).rstrip("/")


def _checked(payload: Any, what: str) -> Any:
    if payload is None:
        raise ConnectionError(f"no answer to /{what}")
    if isinstance(payload, dict) and "detail" in payload:
        # Freqtrade answers errors (401, 404, 503) as {"detail": ...}.
        raise BotApiError(f"/{what}: {payload['detail']}")
    return payload


def _open_trade(raw: dict[str, Any]) -> OpenTrade:
    return OpenTrade(
        trade_id=raw.get("trade_id"),
        pair=str(raw.get("pair", "?")),
        open_date=raw.get("open_date"),
        stake_amount=raw.get("stake_amount"),
        profit_pct=raw.get("profit_pct"),
        profit_abs=raw.get("profit_abs"),
    )


def fetch_bot_status(
    bot: BotSpec,
    url: str,
    username: str | None,
    password: str | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> BotStatus:
    """Poll one bot; any failure becomes ``reachable=False`` with the reason (never raises)."""
    now = datetime.now(UTC)
    client = FtRestClient(url, username, password, timeout=timeout_s)
    try:
        config = _checked(client.show_config(), "show_config")
        trades = _checked(client.status(), "status")
        profit = _checked(client.profit(), "profit")
        daily = _checked(client.daily(1), "daily")
        logs = _checked(client.logs(limit=LOG_LINES), "logs")
    except (requests.RequestException, ConnectionError, BotApiError, ValueError) as exc:
        return BotStatus(
            bot_id=bot.id, url=url, checked_at=now, reachable=False, error=_reason(exc)
        )
    finally:
        client._session.close()  # FtRestClient has no close(); do not leak sockets per poll
    today = (daily.get("data") or [{}])[0]
    return BotStatus(
        bot_id=bot.id,
        url=url,
        checked_at=now,
        reachable=True,
        state=config.get("state"),
        dry_run=config.get("dry_run"),
        strategy=config.get("strategy"),
        max_open_trades=_int(config.get("max_open_trades")),
        open_trades=[_open_trade(t) for t in trades if isinstance(t, dict)],
        trade_count=profit.get("trade_count"),
        closed_trade_count=profit.get("closed_trade_count"),
        profit_closed_abs=profit.get("profit_closed_coin"),
        profit_all_abs=profit.get("profit_all_coin"),
        winrate=profit.get("winrate"),
        max_drawdown_abs=profit.get("max_drawdown_abs"),
        today_profit_abs=today.get("abs_profit"),
        problems=_problems(logs),
    )


def _problems(payload: Any) -> list[LogLine]:
    """ERROR/CRITICAL lines of ``/logs``: ``[time, epoch_ms, logger, level, message]`` rows."""
    rows = payload.get("logs", []) if isinstance(payload, dict) else []
    lines = []
    for row in rows:
        if isinstance(row, list) and len(row) >= 5 and row[3] in PROBLEM_LEVELS:
            lines.append(
                LogLine(at_ms=float(row[1]), level=row[3], logger=str(row[2]), message=str(row[4]))
            )
    return lines


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None  # Freqtrade reports -1 / inf for "unlimited"


def _reason(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError | ConnectionError):
        return "connection refused or host unreachable"
    return str(exc)[:200]
