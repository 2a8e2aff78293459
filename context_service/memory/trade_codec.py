"""Compact stored form of trade events and closed trades (about a third of plain JSON).

A fill is stored under the hash field ``<trade_id>:<code>:<order_id>`` (``e`` entry fill,
``x`` exit fill) with a positional JSON array of the rest; the bot id, trade id, event and order
id live in the field name only. A close is stored once, as the closed-trade record of its trade:
the array starts with the close's order id, and the verdict fields it inherited from the entry
fill follow on a second line, so the original ``trade_closed`` event is still known exactly.
Trailing nulls are dropped and whole-second times are stored as integers. Records written by
earlier versions (JSON objects) are still read.

Decoding validates with the current models (finite numbers, the time window). Whatever a stored
record gets wrong (bad JSON, NaN, a field of the wrong type, a year-4000 time) the decoders raise
:class:`UnreadableRecord`, which readers skip and count (see :mod:`.unreadable`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from .models import ClosedTrade, TradeEvent

FILL_CODES = {"entry_fill": "e", "exit_fill": "x"}
FILL_KINDS = {code: kind for kind, code in FILL_CODES.items()}
SIDES = ("buy", "sell")
INHERITED = (
    *("verdict_id", "manifest_id", "context_hash", "confidence"),
    *("strategy_version", "config_hash"),
)
# Positions after the leading fields (fills: nothing; closes: the order id).
FIELDS = (
    "pair",
    "side",
    "time",
    "price",
    "amount",
    "stake",
    "fee_quote",
    "realized_profit",
    "open_time",
    "close_time",
    "exit_reason",
    *INHERITED,
)
TIMES = {"time", "open_time", "close_time"}

P = ParamSpec("P")
R = TypeVar("R")


class UnreadableRecord(ValueError):
    """A stored record that does not decode into a valid event or trade."""


def _decoder(function: Callable[P, R]) -> Callable[P, R]:
    """Turn every way a stored record can be wrong into :class:`UnreadableRecord`."""

    @functools.wraps(function)
    def decode(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except UnreadableRecord:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, OSError) as exc:
            raise UnreadableRecord(f"{type(exc).__name__}: {exc}") from exc

    return decode


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in a stored record")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse_constant)


def _epoch(moment: datetime) -> int | float:
    value = moment.timestamp()
    return int(value) if value == int(value) else value


def _moment(value: int | float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _dumps(values: list[Any]) -> str:
    while values and values[-1] is None:
        values.pop()
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _values(event: TradeEvent) -> list[Any]:
    out: list[Any] = []
    for name in FIELDS:
        value = getattr(event, name)
        if name == "side":
            value = SIDES.index(value)
        elif name in TIMES and value is not None:
            value = _epoch(value)
        out.append(value)
    return out


def _event_data(values: list[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in zip(FIELDS, values, strict=False):
        if value is None:
            continue
        if name == "side":
            value = SIDES[value]
        elif name in TIMES:
            value = _moment(value)
        data[name] = value
    return data


def _trade_id(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def fill_field(event: TradeEvent) -> str:
    return f"{event.trade_id}:{FILL_CODES[event.event]}:{event.order_id}"


def encode_fill(event: TradeEvent) -> str:
    return _dumps(_values(event))


def entry_fields(event: TradeEvent) -> str:
    """The verdict fields of an entry fill that a later close inherits ('' when none)."""
    fields = {name: getattr(event, name) for name in INHERITED}
    fields = {name: value for name, value in fields.items() if value is not None}
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False) if fields else ""


def encode_close(event: TradeEvent) -> str:
    """First line of a closed-trade record: the close's order id, then the event's fields."""
    return _dumps([event.order_id, *_values(event)])


@_decoder
def decode_fill(bot_id: str, field: str, raw: str) -> TradeEvent:
    if raw.startswith("{"):  # written by an earlier version: the full event JSON
        return TradeEvent.model_validate_json(raw)
    trade_id, code, order_id = field.split(":", 2)
    data = _event_data(_loads(raw))
    return TradeEvent(
        bot_id=bot_id,
        trade_id=_trade_id(trade_id),
        order_id=order_id,
        event=FILL_KINDS[code],  # type: ignore[arg-type]
        **data,
    )


def _split_close(raw: str, inherit: bool = True) -> tuple[list[Any], dict[str, Any]]:
    head, _, inherited = raw.partition("\n")
    values, fields = _loads(head), (_loads(inherited) if inherited and inherit else {})
    if not isinstance(values, list) or not values or not isinstance(fields, dict):
        raise ValueError("a closed-trade record is a JSON array, then a JSON object")
    return values, fields


@_decoder
def decode_close_event(bot_id: str, trade_id: str, raw: str) -> TradeEvent | None:
    """The ``trade_closed`` event behind a record (None for an earlier version's record,
    whose event is kept among the fills)."""
    if raw.startswith("{"):
        return None
    values, _ = _split_close(raw, inherit=False)
    return TradeEvent(
        bot_id=bot_id,
        trade_id=_trade_id(trade_id),
        order_id=values[0],
        event="trade_closed",
        **_event_data(values[1:]),
    )


@_decoder
def decode_closed(trade_id: str, raw: str, inherit: bool = True) -> ClosedTrade:
    """The closed trade of a record; ``inherit=False`` leaves out the verdict fields it took
    over from its entry fill (for a record whose inherited fields no longer validate)."""
    if raw.startswith("{"):
        return ClosedTrade.model_validate_json(raw)
    values, inherited = _split_close(raw, inherit)
    data = _event_data(values[1:])
    for name in INHERITED:
        if data.get(name) is None and inherited.get(name) is not None:
            data[name] = inherited[name]
    return ClosedTrade(
        trade_id=trade_id,
        pair=data["pair"],
        open_time=data["open_time"],
        close_time=data.get("close_time", data["time"]),
        stake=data.get("stake", 0.0),
        net_profit=float(data.get("realized_profit") or 0.0),
        fees=data.get("fee_quote", 0.0),
        exit_reason=data.get("exit_reason"),
        **{name: data.get(name) for name in INHERITED},
    )
