"""Candle prices read exactly as the JSON files hold them.

Freqtrade's JSON candle loader calls ``pandas.read_json(filename, orient="values")``, whose
default float parser is fast but not exact: on the shared KuCoin data it lands one ulp away
from the written decimal for about 44 % of the prices (``0.58036`` is read as
``0.5803600000000001``, ``1.5576`` as ``1.5575999999999999``). Prices are then no longer on the
market's tick grid, and Freqtrade's backtest compares them with prices it *has* rounded to that
grid. At the end of a backtest, open trades are force-exited with a limit order at the last
candle's open rounded to the tick; when that candle opened at its low (or high), the rounded
price falls just outside ``[low, high]``, the order "does not fill" and the trade is left out of
the results. lookahead-analysis ends its backtests one candle after each entry, so such an entry
is reported as biased although the strategy took it in both runs.

:func:`exact_candles` makes Freqtrade parse those files exactly (``precise_float=True``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

# Part of the leakage certificate's cache key: certificates made with another parsing are redone.
CANDLE_PARSING = "json-precise-float"


@contextmanager
def exact_candles() -> Iterator[None]:
    """Within the block, Freqtrade's JSON (and JSON.gz) candle loader parses prices exactly.

    Patched seam: the ``read_json`` name in Freqtrade's ``jsondatahandler`` module, used only by
    ``JsonDataHandler._ohlcv_load`` (``JsonGzDataHandler`` inherits it)."""
    import pandas
    from freqtrade.data.history.datahandlers import jsondatahandler

    original = jsondatahandler.read_json
    jsondatahandler.read_json = functools.partial(pandas.read_json, precise_float=True)
    try:
        yield
    finally:
        jsondatahandler.read_json = original
