"""``python -m context_service markets save|show``: the markets snapshot used offline.

``save`` (online) loads KuCoin's markets through ccxt and writes the chosen pairs' unified
market records (precision, limits, fees) to a JSON file; ``show`` summarises a snapshot.
Backtests load it when KuCoin cannot be reached (see context_service.kucoin.snapshot).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from context_service.kucoin.snapshot import SnapshotError, load_snapshot, save_snapshot
from context_service.settings import get_settings


def select_markets(
    markets: dict[str, dict[str, Any]], pairs: Sequence[str] | None, quote: str
) -> dict[str, dict[str, Any]]:
    """The requested pairs (all must exist), or every active spot market quoted in ``quote``."""
    if pairs:
        unknown = [p for p in pairs if p not in markets]
        if unknown:
            raise SnapshotError(f"not on the exchange: {', '.join(unknown)}")
        return {p: markets[p] for p in pairs}
    return {
        symbol: m
        for symbol, m in markets.items()
        if m.get("spot") and m.get("active") and m.get("quote") == quote
    }


def _save(args: argparse.Namespace) -> int:
    import ccxt

    exchange = ccxt.kucoin({"timeout": 15_000, "enableRateLimit": True})
    try:
        markets = exchange.load_markets()
    except ccxt.BaseError as exc:
        print(f"markets: cannot load KuCoin markets (offline?): {exc}", file=sys.stderr)
        return 2
    chosen = select_markets(markets, args.pairs, args.quote)
    path = save_snapshot(chosen, args.out)
    print(f"markets: saved {len(chosen)} markets to {path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    markets = load_snapshot(args.path)
    print(f"{args.path}: {len(markets)} markets")
    for symbol, m in sorted(markets.items()):
        limits = m.get("limits", {})
        cost_min = (limits.get("cost") or {}).get("min")
        amount_min = (limits.get("amount") or {}).get("min")
        print(
            f"  {symbol:<14} active={m.get('active')!s:<5} taker={m.get('taker')} "
            f"precision(amount={m['precision'].get('amount')}, price={m['precision'].get('price')})"
            f" min(amount={amount_min}, cost={cost_min})"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    default = settings.markets_snapshot or (settings.data_dir.parent / "kucoin-markets.json")
    parser = argparse.ArgumentParser(prog="python -m context_service markets")
    sub = parser.add_subparsers(dest="action", required=True)
    save = sub.add_parser("save", help="save KuCoin markets to a snapshot (needs network)")
    save.add_argument("--out", type=Path, default=default)
    save.add_argument("--pairs", nargs="+", default=None, help="default: all active spot pairs")
    save.add_argument("--quote", default="USDT")
    show = sub.add_parser("show", help="summarise a snapshot")
    show.add_argument("path", type=Path, nargs="?", default=default)
    args = parser.parse_args(list(argv or []))
    try:
        return _save(args) if args.action == "save" else _show(args)
    except SnapshotError as exc:
        print(f"markets: {exc}", file=sys.stderr)
        return 2
