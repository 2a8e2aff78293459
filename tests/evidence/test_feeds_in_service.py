"""Feeds in the sidecar: the poller writes the market-wide store once, every bot's decision
reads it as of its time and takes what concerns its pair."""

from __future__ import annotations

from datetime import timedelta

import respx
from prometheus_client import generate_latest

from context_service.contract import TASnapshot, VerdictRequest
from context_service.evidence.runtime import feed_poller

from .conftest import FETCHED_AT, fixture_bytes


def decided(service, bot_id: str, pair: str, as_of) -> set[str]:
    """The ids in the manifest of a verdict's context, as its audit entry records them."""
    ask(service, bot_id, pair, as_of)
    (entry,) = service.components.memory.bot(bot_id).audit.query(kind="verdict", limit=10)[-1:]
    return set(entry.payload["manifest"]["included"])


def ask(service, bot_id: str, pair: str, as_of):
    snapshot = TASnapshot(
        pair=pair,
        timeframe="1h",
        candle_time=as_of,
        close=1.0,
        rsi=40,
        macd=0,
        macd_signal=0,
        macd_hist=0,
        ema_fast=1.0,
        ema_slow=1.0,
        ema_trend=1.0,
        atr=0.01,
        bb_lower=0.9,
        bb_middle=1.0,
        bb_upper=1.1,
        volume=10,
    )
    request = VerdictRequest(
        bot_id=bot_id, pair=pair, candle_time=as_of, snapshot=snapshot, as_of=as_of
    )
    return service.decide(request, providers=["rules"])


@respx.mock
def test_polled_news_reach_each_bot_once_stored(make_service, feed_settings) -> None:
    respx.get("https://cointelegraph.com/rss").respond(
        200, content=fixture_bytes("cointelegraph.rss")
    )
    respx.get("https://decrypt.co/feed").respond(200, content=fixture_bytes("decrypt.atom"))
    service = make_service(llm=False)
    settings = feed_settings.model_copy(update={"enabled": ("rss",)})
    poller = feed_poller(service, settings)
    assert poller is not None and sorted(poller.jobs) == ["rss-cointelegraph", "rss-decrypt"]
    poller.run_due(FETCHED_AT)
    market = service.components.market
    assert len(market) == 4  # Decrypt's Celsius story merged into CoinTelegraph's
    ids = {o.summary.split(" ")[0]: o.id for o in market.all()}

    later = FETCHED_AT + timedelta(hours=1)
    btc = service.synthesize("bot-a", as_of=later)  # no pair: every market item
    assert set(ids.values()) <= set(btc.manifest.included_ids())
    btc_ids = decided(service, "bot-a", "BTC/USDT", later)
    assert ids["Celsius"] in btc_ids and ids["Bitcoin"] in btc_ids  # critical: market-wide
    assert ids["Dogecoin"] not in btc_ids and ids["Solana"] not in btc_ids
    assert ids["Dogecoin"] in decided(service, "bot-b", "DOGE/USDT", later)
    # stored once: neither bot's own store holds them
    for bot in ("bot-a", "bot-b"):
        assert not any(
            o.id in ids.values() for o in service.components.memory.bot(bot).evidence.all()
        )
    # nothing is visible before it was first seen
    before = service.engine("bot-b").synthesize(1500, as_of=FETCHED_AT - timedelta(minutes=1))
    assert not set(ids.values()) & set(before.manifest.included_ids())
    text = generate_latest(service.components.metrics.registry).decode()
    assert 'ctx_feed_items_total{outcome="stored",source="rss-cointelegraph"} 3.0' in text


def test_no_poller_when_polling_is_off_or_nothing_is_enabled(make_service, feed_settings) -> None:
    service = make_service(llm=False)
    assert feed_poller(service, feed_settings.model_copy(update={"poll": False})) is None
    assert feed_poller(service, feed_settings.model_copy(update={"enabled": ()})) is None
