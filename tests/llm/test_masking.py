"""Masking mode: no tickers, coin names, absolute dates or prices reach the LLM."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import respx
from verdicts.support import CHAT_URL, T0, make_request, ok_response

from context_service.contract import OpenPosition
from context_service.llm.masking import Masker, offset
from context_service.llm.prompt import build_messages
from context_service.models import Evidence, Provenance

NEWS = (
    "Bitcoin tops $101 after ETH/USDT and SOL rally on 2022-02-28T22:00Z; "
    "Ethereum fees fall, dogecoin flat, $3.2 billion inflows"
)


def _leaks(text: str, request) -> list[str]:
    found = []
    for needle in ("BTC", "Bitcoin", "bitcoin", "ETH", "Ethereum", "SOL", "dogecoin", "USDT"):
        if re.search(rf"\b{needle}\b", text):
            found.append(needle)
    if re.search(r"\b20\d\d-\d\d-\d\d", text):
        found.append("date")
    for price in (request.snapshot.close, request.snapshot.ema_trend, request.snapshot.bb_upper):
        if re.search(rf"(?<![\d.+-]){price:.6g}(?![\d%])", text):
            found.append(f"price {price:.6g}")
    return found


def test_offsets() -> None:
    assert offset(timedelta(0)) == "T+0"
    assert offset(timedelta(minutes=-20)) == "T-20m"
    assert offset(timedelta(hours=-26)) == "T-26h"
    assert offset(timedelta(days=-5, hours=-3)) == "T-5d"
    assert offset(timedelta(hours=2)) == "T+2h"


def test_masked_prompt_has_no_tickers_dates_or_prices() -> None:
    request = make_request(i=3).model_copy(
        update={
            "position": OpenPosition(
                trade_id=7,
                open_rate=100.0,
                amount=1.0,
                stake=100.0,
                opened_at=T0,
                current_profit_ratio=0.03,
            )
        }
    )
    masker = Masker(request)
    ta = request.snapshot.summary_line()
    context = (
        "## market-data\n"
        f"- [ta:BTC/USDT:1h] (medium, conf 0.90, 2022-03-01T03:00Z) {ta}\n"
        f"## news-sentiment\n- [news-1] (high, conf 0.80, 2022-02-28T23:00Z) {NEWS}\n"
    )
    messages = build_messages(request, context, masker=masker)
    text = "".join(m["content"] for m in messages)

    assert _leaks(text, request) == []
    assert "[ta:ASSET_A/QUOTE:1h]" in text and "ASSET_A/QUOTE 1h | RSI 55.0" in text
    assert "T-4h" in text and "T-5h" in text  # dates became offsets from the candle
    assert "close-1.94%" in text  # $101 vs close 103: a return, not a price
    assert "[amount]" in text  # $3.2 billion is no price of the pair
    assert "opened T-3h at close-2.91%" in text  # the position's entry as a return
    assert "ASSET_B/QUOTE" in text and "ASSET_C" in text  # other coins get their own labels
    assert masker.original_id(masker.mask_id("ta:BTC/USDT:1h")) == "ta:BTC/USDT:1h"
    # Deterministic: the same request masks the same way (replayable).
    again = build_messages(request, context, masker=Masker(request))
    assert again == messages


def test_unmasked_prompt_is_unchanged_by_the_feature() -> None:
    request = make_request()
    context = f"## news-sentiment\n- [news-1] {NEWS}\n"
    text = build_messages(request, context)[-1]["content"]
    assert "Bitcoin" in text and "BTC/USDT" in text


def test_masked_verdict_cites_masked_ids_and_gets_the_real_ones_back(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(
        return_value=ok_response(evidence_ids=["ta:ASSET_A/QUOTE:1h", "ta:BTC/USDT:1h"])
    )
    service = make_service(llm_masking=True)
    service.upsert(
        "bot-1",
        [
            Evidence(
                id="news-btc",
                summary=NEWS,
                tags={"category": "news"},
                provenance=Provenance(source="feed"),
                observed_at=T0 - timedelta(minutes=30),
            )
        ],
    )

    verdict = service.decide(make_request())

    assert verdict.source == "llm"
    # The masked id maps back; the unmasked one was never shown, so it is dropped.
    assert verdict.evidence_ids == ["ta:BTC/USDT:1h"]
    sent = json.loads(route.calls.last.request.content)
    text = "".join(m["content"] for m in sent["messages"])
    assert _leaks(text, make_request()) == []
    [entry] = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    assert (
        entry.payload["providers"]["llm"]["masking"] is True
    )  # part of the replay key and the audit
