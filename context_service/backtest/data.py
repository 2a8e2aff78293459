"""Candles for a backtest: use the data directory, or download from KuCoin when it is empty."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from context_service.kucoin.snapshot import exchange_reachable

logger = logging.getLogger(__name__)


class DataProblem(Exception):
    """No candles and no way to get them; the message says what to do."""


def candle_file(datadir: Path, pair: str, timeframe: str) -> Path:
    """Freqtrade's JSON candle file of a spot pair (``BTC/USDT`` -> ``BTC_USDT-1h.json``), named
    by Freqtrade itself so special characters and the ``1M`` timeframe match what it reads."""
    from freqtrade.data.history.datahandlers.jsondatahandler import JsonDataHandler
    from freqtrade.enums import CandleType

    return JsonDataHandler._pair_data_filename(datadir, pair, timeframe, CandleType.SPOT)


def missing_candles(datadir: Path, pairs: Sequence[str], timeframe: str) -> list[str]:
    return [p for p in pairs if not candle_file(datadir, p, timeframe).is_file()]


def ensure_candles(
    datadir: Path,
    pairs: Sequence[str],
    timeframe: str,
    timerange: str | None,
    *,
    reachable=exchange_reachable,
) -> None:
    if not pairs:
        raise DataProblem("no pairs: set exchange.pair_whitelist in the config or pass --pairs")
    missing = missing_candles(datadir, pairs, timeframe)
    if not missing:
        return
    logger.info(
        "no %s candles in %s for %s: trying freqtrade download-data",
        timeframe,
        datadir,
        ", ".join(missing),
    )
    advice = (
        f"set CTX_DATA_DIR (or --datadir) to a folder with Freqtrade JSON candles "
        f"({candle_file(datadir, missing[0], timeframe).name} ...), or run once online so "
        "'freqtrade download-data' can fetch them from KuCoin"
    )
    if not reachable():
        raise DataProblem(
            f"no {timeframe} candles for {', '.join(missing)} in {datadir}, and KuCoin is "
            f"unreachable (offline?) so they cannot be downloaded: {advice}"
        )
    _download(datadir, missing, timeframe, timerange)
    still = missing_candles(datadir, pairs, timeframe)
    if still:
        raise DataProblem(f"download-data did not produce candles for {', '.join(still)}: {advice}")


def _download(datadir: Path, pairs: Sequence[str], timeframe: str, timerange: str | None) -> None:
    from freqtrade.commands import Arguments

    datadir.mkdir(parents=True, exist_ok=True)
    argv = [
        "download-data",
        "--exchange", "kucoin",
        "--pairs", *pairs,
        "--timeframes", timeframe,
        "--datadir", str(datadir),
        "--data-format-ohlcv", "json",
    ]  # fmt: skip
    if timerange:
        argv += ["--timerange", timerange]
    parsed = Arguments(argv).get_parsed_arg()
    try:
        parsed["func"](parsed)
    except Exception as exc:
        raise DataProblem(f"freqtrade download-data failed: {exc}") from exc
