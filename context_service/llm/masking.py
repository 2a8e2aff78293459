"""Masking mode: the LLM sees the market, not which market or when.

A model that recognises "BTC/USDT on 2022-03-01 at 44,000" may recall what happened next, and a
backtest would then measure its memory, not its judgement. With ``CTX_LLM_MASKING=true`` the
context the LLM sees is rewritten per request:

* tickers and coin names (the pair's, every ``BASE/QUOTE`` pair and a table of well-known
  coins) become neutral labels: ``ASSET_A`` (the pair's base asset), ``ASSET_B``... in order of
  appearance, and the quote asset ``QUOTE``; evidence ids are rewritten the same way, and the
  ids the model cites are mapped back;
* absolute dates and times become offsets from the candle (``T-3h``, ``T-2d``, ``T+0``);
* prices become returns: the TA snapshot is rendered relative to the close (EMAs and Bollinger
  bands as % from close), an open position's entry as its return, and dollar amounts near the
  close as % from it (other amounts as ``[amount]``).

The rewrite is deterministic, so masked verdicts stay replayable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from context_service.contract import TASnapshot, VerdictRequest

# Well-known coins and their names; anything else is masked when it appears in a pair.
COINS: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "xbt"),
    "ETH": ("ethereum", "ether"),
    "SOL": ("solana",),
    "XRP": ("ripple",),
    "BNB": ("binance coin",),
    "ADA": ("cardano",),
    "DOGE": ("dogecoin",),
    "DOT": ("polkadot",),
    "AVAX": ("avalanche",),
    "MATIC": ("polygon",),
    "LINK": ("chainlink",),
    "LTC": ("litecoin",),
    "TRX": ("tron",),
    "ATOM": ("cosmos",),
    "SHIB": ("shiba inu",),
    "TON": ("toncoin",),
    "KCS": ("kucoin token",),
    "XLM": ("stellar",),
    "NEAR": ("near protocol",),
    "UNI": ("uniswap",),
}
QUOTES = ("USDT", "USDC", "USD", "BUSD", "DAI", "EUR")
QUOTE_LABEL = "QUOTE"
_PAIR = re.compile(r"\b([A-Z0-9]{2,12})/([A-Z]{2,6})\b")
_ISO = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_AMOUNT = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(k|K)?")


def offset(delta: timedelta) -> str:
    """``T-3h`` style offset from the candle (minutes under an hour, hours under 3 days)."""
    seconds = int(delta.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    if seconds < 60:
        return "T+0"
    if seconds < 3600:
        return f"T{sign}{seconds // 60}m"
    if seconds < 3 * 86_400:
        return f"T{sign}{seconds // 3600}h"
    return f"T{sign}{seconds // 86_400}d"


def _label(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return f"ASSET_{letters}"


def _pct(value: float, reference: float) -> str:
    return f"{(value / reference - 1):+.2%}"


def masked_snapshot_line(snapshot: TASnapshot, base_label: str) -> str:
    """The TA summary with prices as returns relative to the close."""
    close = snapshot.close
    trend = "up" if snapshot.ema_fast > snapshot.ema_slow else "down"
    return (
        f"{base_label}/{QUOTE_LABEL} {snapshot.timeframe} | RSI {snapshot.rsi:.1f} | "
        f"MACD hist {snapshot.macd_hist / close:+.3%} of close | EMA trend {trend} "
        f"(fast {_pct(snapshot.ema_fast, close)}, slow {_pct(snapshot.ema_slow, close)}, "
        f"long {_pct(snapshot.ema_trend, close)} vs close) | ATR {snapshot.atr_pct:.2%} | "
        f"BB {_pct(snapshot.bb_lower, close)}..{_pct(snapshot.bb_upper, close)} vs close"
    )


class Masker:
    """Rewrites one request's context; maps masked evidence ids back."""

    def __init__(self, request: VerdictRequest) -> None:
        self.request = request
        self.candle = request.candle_time
        self._labels: dict[str, str] = {}
        base, _, quote = request.pair.partition("/")
        self.base_label = self._asset(base)
        self._quote = quote
        self._ids: dict[str, str] = {}
        names = sorted(
            ((name, symbol) for symbol, aliases in COINS.items() for name in aliases),
            key=lambda item: -len(item[0]),
        )
        self._names = [
            (re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE), symbol) for name, symbol in names
        ]
        self._symbols = re.compile(r"\b(" + "|".join(sorted(COINS, key=len, reverse=True)) + r")\b")

    def _asset(self, symbol: str) -> str:
        symbol = symbol.upper()
        if symbol in QUOTES:
            return QUOTE_LABEL
        if symbol not in self._labels:
            self._labels[symbol] = _label(len(self._labels))
        return self._labels[symbol]

    def _when(self, match: re.Match[str]) -> str:
        text = match.group(0).replace(" ", "T")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return "[date]"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return offset(moment - self.candle)

    def _amount(self, match: re.Match[str]) -> str:
        value = float(match.group(1).replace(",", "")) * (1000 if match.group(2) else 1)
        close = self.request.snapshot.close
        if close > 0 and 0.2 <= value / close <= 5:
            return f"close{_pct(value, close)}"
        return "[amount]"

    def text(self, text: str) -> str:
        """Mask free text: the TA line first (prices to returns), then pairs, names, tickers,
        dates and amounts."""
        snapshot = self.request.snapshot
        text = text.replace(
            snapshot.summary_line(), masked_snapshot_line(snapshot, self.base_label)
        )
        text = _PAIR.sub(lambda m: f"{self._asset(m.group(1))}/{self._asset(m.group(2))}", text)
        for pattern, symbol in self._names:
            text = pattern.sub(lambda _m, s=symbol: self._asset(s), text)
        text = self._symbols.sub(lambda m: self._asset(m.group(1)), text)
        text = _ISO.sub(self._when, text)
        return _AMOUNT.sub(self._amount, text)

    def mask_id(self, evidence_id: str) -> str:
        masked = self.text(evidence_id)
        self._ids[masked] = evidence_id
        return masked

    def original_id(self, masked_id: str) -> str:
        return self._ids.get(masked_id, masked_id)

    def original_pair(self, masked_pair: str) -> str:
        """A pair the model named in masked labels (``ASSET_A/QUOTE``) as the real pair; a
        label it was never shown stays as it is (and fails the pair check)."""
        base, _, quote = masked_pair.partition("/")
        symbols = {label: symbol for symbol, label in self._labels.items()}
        real_quote = self._quote if quote == QUOTE_LABEL else symbols.get(quote, quote)
        return f"{symbols.get(base, base)}/{real_quote}"

    def request_line(self) -> str:
        """The candidate block, masked: no pair, no dates, the position as a return."""
        request = self.request
        kind = "ENTRY (buy)" if request.candidate == "entry" else "EXIT (sell)"
        lines = [
            f"Candidate: {kind} on {self.base_label}/{QUOTE_LABEL}, "
            f"{request.snapshot.timeframe} candle closed at T+0."
        ]
        position = request.position
        if position is None:
            lines.append("Open position on this pair: none.")
        else:
            lines.append(
                f"Open position on this pair: opened {offset(position.opened_at - self.candle)} "
                f"at close{_pct(position.open_rate, request.snapshot.close)}, current profit "
                f"{position.current_profit_ratio:+.2%}."
            )
        return "\n".join(lines)
