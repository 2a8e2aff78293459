"""Critical errors: conditions under which a bot must stop opening trades, automatically.

Three conditions count (:class:`CriticalKind`):

* ``exchange_errors``: ``AutoStopPolicy.exchange_errors`` or more exchange errors in the bot's
  log within ``AutoStopPolicy.window_s`` (KuCoin refusing orders, auth failures, outages);
* ``budget_guard_breach``: the budget guard refused an entry the strategy itself had sized
  within the room, or open exposure is already above the budget: either means the bot's view
  of its money is wrong, which should be impossible;
* ``ledger_unreachable``: the LLM is on but its cost ledger cannot be reached, so spend cannot
  be reserved against the caps.

The strategy logs the last two as CRITICAL lines carrying :data:`CRITICAL_MARKER` and refuses
entries itself at once; the sidecar's fleet monitor reads every bot's ERROR/CRITICAL log lines,
decides with :meth:`AutoStopPolicy.stop_reason`, pauses the bot through the fleet kill switch
(Freqtrade's ``/stopbuy``: open trades are still managed) and raises a critical alert.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

CRITICAL_MARKER = "CRITICAL-STOP"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MARKED = re.compile(rf"{CRITICAL_MARKER} \[([a-z_]+)\] ?(.*)", re.S)
# Exceptions Freqtrade and ccxt raise for exchange trouble, as they appear in its log lines.
EXCHANGE_ERROR_WORDS = (
    "ExchangeError",
    "TemporaryError",
    "DDosProtection",
    "InvalidOrder",
    "InsufficientFunds",
    "AuthenticationError",
    "PermissionDenied",
    "ExchangeNotAvailable",
    "RequestTimeout",
    "NetworkError",
)


class CriticalKind(StrEnum):
    exchange_errors = "exchange_errors"
    budget_guard_breach = "budget_guard_breach"
    ledger_unreachable = "ledger_unreachable"


def critical_line(kind: CriticalKind, detail: str) -> str:
    """The log message the monitor recognises (one line: control characters flattened)."""
    flat = " ".join(_CONTROL.sub(" ", str(detail)).split())[:500]
    return f"{CRITICAL_MARKER} [{kind.value}] {flat}"


def report_critical(log: logging.Logger, kind: CriticalKind, detail: str) -> str:
    """Log ``kind`` at CRITICAL with the marker; returns the message."""
    message = critical_line(kind, detail)
    log.critical(message)
    return message


class LogLineLike(Protocol):
    at_ms: float
    level: str
    logger: str
    message: str


@dataclass(frozen=True, slots=True)
class StopReason:
    kind: CriticalKind
    message: str
    at_ms: float  # the newest line that triggered it


def is_exchange_error(line: LogLineLike) -> bool:
    if line.level not in ("ERROR", "CRITICAL"):
        return False
    return line.logger.startswith("freqtrade.exchange") or any(
        word in line.message for word in EXCHANGE_ERROR_WORDS
    )


@dataclass(frozen=True)
class AutoStopPolicy:
    """When the monitor stops a bot."""

    exchange_errors: int = 5
    window_s: float = 900.0

    def stop_reason(
        self, lines: Sequence[LogLineLike], now: datetime, after_ms: float = -1.0
    ) -> StopReason | None:
        """Why the bot must stop, judged from its recent log lines newer than ``after_ms``
        (the line that stopped it last time), or None."""
        fresh = sorted((ln for ln in lines if ln.at_ms > after_ms), key=lambda ln: ln.at_ms)
        for line in reversed(fresh):
            match = _MARKED.search(line.message) if line.level == "CRITICAL" else None
            if match and match.group(1) in CriticalKind.__members__:
                return StopReason(CriticalKind(match.group(1)), match.group(2)[:300], line.at_ms)
        horizon = (now.timestamp() - self.window_s) * 1000
        errors = [ln for ln in fresh if ln.at_ms >= horizon and is_exchange_error(ln)]
        if len(errors) >= self.exchange_errors:
            last = errors[-1]
            return StopReason(
                CriticalKind.exchange_errors,
                f"{len(errors)} exchange errors in {self.window_s / 60:g} minutes, the last: "
                f"{last.message[:200]}",
                last.at_ms,
            )
        return None
