"""Markets snapshot: ccxt's unified market metadata saved to a JSON file and loaded offline.

Freqtrade loads the exchange's markets (precision, limits, fees) even to backtest. With a
snapshot beside the candle data, a backtest runs without network access and for pairs the
exchange has since delisted (DESIGN.md, decision 12).

:func:`install_offline_markets` patches Freqtrade's market load so the async ccxt client gets
its markets from the snapshot; Freqtrade then copies them to the sync client as usual.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

MarketsSource = Literal["auto", "snapshot", "exchange"]
REQUIRED_MARKET_FIELDS = ("symbol", "base", "quote", "precision", "limits", "active", "spot")


class SnapshotError(ValueError):
    """A markets snapshot that is missing, unreadable or not a ccxt markets dict."""


def load_snapshot(path: Path) -> dict[str, dict[str, Any]]:
    """Read and validate a snapshot: ``{"BTC/USDT": {ccxt unified market}, ...}``."""
    if not path.is_file():
        raise SnapshotError(f"markets snapshot {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"markets snapshot {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise SnapshotError(f"markets snapshot {path} must be a non-empty object symbol -> market")
    for symbol, market in data.items():
        if not isinstance(market, dict):
            raise SnapshotError(f"markets snapshot {path}: {symbol!r} is not an object")
        missing = [f for f in REQUIRED_MARKET_FIELDS if f not in market]
        if missing:
            raise SnapshotError(
                f"markets snapshot {path}: {symbol!r} lacks {', '.join(missing)} "
                "(save snapshots with 'python -m context_service markets save')"
            )
        if market["symbol"] != symbol:
            raise SnapshotError(f"markets snapshot {path}: key {symbol!r} != {market['symbol']!r}")
    return data


def save_snapshot(markets: dict[str, dict[str, Any]], path: Path) -> Path:
    """Write ``markets`` (ccxt unified) to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(markets, indent=1, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)
    return path


def exchange_reachable(host: str = "api.kucoin.com", port: int = 443, timeout: float = 2.0) -> bool:
    """True when a TCP connection to the exchange API can be opened (DNS included)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def offline_markets(snapshot_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """Within the block, every Freqtrade exchange loads its markets from the snapshot.

    Patched seam: ``Exchange._load_async_markets`` (the only place Freqtrade asks ccxt for
    markets during start-up and scheduled reloads). Nothing else at backtest start-up reaches
    the network for spot: time offset checks run only in trade modes, timeframes are static in
    ccxt, and fees come from the config or the markets' taker/maker rates.
    """
    markets = load_snapshot(snapshot_path)
    from freqtrade.exchange.exchange import Exchange

    original = Exchange._load_async_markets

    def _load_from_snapshot(self: Exchange, reload: bool = False) -> None:
        self._api_async.set_markets(markets)
        logger.info("Markets loaded from snapshot %s (%d markets)", snapshot_path, len(markets))

    Exchange._load_async_markets = _load_from_snapshot  # type: ignore[method-assign]
    try:
        yield markets
    finally:
        Exchange._load_async_markets = original  # type: ignore[method-assign]


def resolve_markets_source(
    source: MarketsSource, snapshot: Path | None, *, probe=exchange_reachable
) -> bool:
    """Decide whether to use the snapshot. Raises with advice when neither way can work."""
    if source == "exchange":
        return False
    if source == "snapshot":
        if snapshot is None:
            raise SnapshotError("--markets snapshot needs CTX_MARKETS_SNAPSHOT (or --snapshot)")
        return True
    if snapshot is not None and snapshot.is_file():
        reachable = probe()
        if not reachable:
            logger.info("Exchange unreachable: using markets snapshot %s", snapshot)
        return not reachable
    return False
