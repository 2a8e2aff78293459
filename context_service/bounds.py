"""What the service accepts as a number or a time, shared by every model at its boundary.

* Numbers: every model that reaches the service (HTTP or in-process) sets
  ``allow_inf_nan=False`` (:data:`FINITE`); NaN and +-Infinity are refused with a 422 naming the
  field. A stored non-finite value would poison statistics and contexts for good.
* Times: :data:`EventTime` (``observed_at``, ``candle_time``, ``as_of``, trade times) must lie in a
  sane window around now: not before ``CTX_TIME_EARLIEST`` (default 2009-01-03, before any crypto
  candle) and not more than ``CTX_TIME_MAX_FUTURE_S`` ahead (default one day of clock skew;
  backtests are in the past). :data:`HorizonTime` (``valid_until``) may reach further ahead, up to
  ``CTX_TIME_MAX_HORIZON_DAYS`` (default ten years). Year-4000 or 9999-12-31 times would
  otherwise file every later audit entry under that year or overflow date arithmetic.
* Pairs: :data:`PAIR_PATTERN` (``BTC/USDT``, ``BTC/USDT:USDT``), wherever a pair crosses a
  boundary (requests, verdicts, adjustments).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, ConfigDict

# Merged into the model_config of every boundary model.
FINITE = ConfigDict(allow_inf_nan=False)
# Matched by pydantic (the Rust engine: "$" is the very end, a trailing newline does not pass).
PAIR_PATTERN = r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$"

DEFAULT_EARLIEST = datetime(2009, 1, 3, tzinfo=UTC)
DEFAULT_MAX_FUTURE = timedelta(days=1)
DEFAULT_MAX_HORIZON = timedelta(days=3660)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Accepted times: ``earliest`` .. now + ``max_future`` (+ ``max_horizon`` for validity)."""

    earliest: datetime = DEFAULT_EARLIEST
    max_future: timedelta = DEFAULT_MAX_FUTURE
    max_horizon: timedelta = DEFAULT_MAX_HORIZON

    def check(self, value: datetime, horizon: bool = False) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetime must be timezone-aware (e.g. 2024-05-03T14:05:00Z)")
        value = value.astimezone(UTC)
        if value < self.earliest:
            raise ValueError(f"time {value.isoformat()} is before {self.earliest.isoformat()}")
        ahead = self.max_horizon if horizon else self.max_future
        latest = datetime.now(UTC) + ahead
        if value > latest:
            raise ValueError(
                f"time {value.isoformat()} is more than {_span(ahead)} in the future "
                f"(latest accepted {latest.replace(microsecond=0).isoformat()})"
            )
        return value


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds:g} s"


_window: TimeWindow | None = None
_window_lock = threading.Lock()


def time_window() -> TimeWindow:
    """The process-wide window: the one the app installed from its settings, else read from
    the environment (``CTX_TIME_*``, as the settings would) on first use. (This module sits
    below the settings, which are built from models that use it: it reads the variables
    itself.)"""
    global _window
    if _window is None:
        with _window_lock:
            if _window is None:
                _window = window_from_env(os.environ)
    return _window


def window_from_env(env: Mapping[str, str]) -> TimeWindow:
    earliest = env.get("CTX_TIME_EARLIEST")
    start = DEFAULT_EARLIEST
    if earliest:
        start = datetime.fromisoformat(earliest.replace("Z", "+00:00"))
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    future = env.get("CTX_TIME_MAX_FUTURE_S")
    horizon = env.get("CTX_TIME_MAX_HORIZON_DAYS")
    return TimeWindow(
        earliest=start,
        max_future=timedelta(seconds=float(future)) if future else DEFAULT_MAX_FUTURE,
        max_horizon=timedelta(days=float(horizon)) if horizon else DEFAULT_MAX_HORIZON,
    )


def window_from_settings(settings: object) -> TimeWindow:
    return TimeWindow(
        earliest=settings.time_earliest,  # type: ignore[attr-defined]
        max_future=timedelta(seconds=settings.time_max_future_s),  # type: ignore[attr-defined]
        max_horizon=timedelta(days=settings.time_max_horizon_days),  # type: ignore[attr-defined]
    )


def set_time_window(window: TimeWindow | None) -> None:
    """Install a window (the app does it from its settings; None: re-read settings)."""
    global _window
    with _window_lock:
        _window = window


def check_event_time(value: datetime) -> datetime:
    return time_window().check(value)


def check_horizon_time(value: datetime) -> datetime:
    return time_window().check(value, horizon=True)


EventTime = Annotated[AwareDatetime, AfterValidator(check_event_time)]
HorizonTime = Annotated[AwareDatetime, AfterValidator(check_horizon_time)]


def finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
