"""Fear & Greed, CoinGecko, Perigon and CoinMarketCap against recorded answers (respx)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx
from pydantic import SecretStr

from context_service.evidence.components import FeedComponents
from context_service.evidence.source import SourceError
from context_service.evidence.sources.coingecko import API_URL as COINGECKO_URL
from context_service.evidence.sources.coingecko import CoinGeckoGlobalSource
from context_service.evidence.sources.coinmarketcap import (
    BASE_URL,
    GLOBAL_PATH,
    QUOTES_PATH,
    CoinMarketCapSource,
)
from context_service.evidence.sources.fear_greed import API_URL as FNG_URL
from context_service.evidence.sources.fear_greed import FearGreedSource
from context_service.evidence.sources.perigon import API_URL as PERIGON_URL
from context_service.evidence.sources.perigon import PerigonSource

from .conftest import FETCHED_AT, fixture_bytes

HOSTILE_JSON = [
    b"{not json",
    b"[]",
    b'"a string"',
    b'{"data": "nope"}',
    b'{"data": [{"value": "NaN", "timestamp": "1655078400"}]}',
    b"\xff\xfe\x00",
]


def keyed(components: FeedComponents, **keys: str) -> FeedComponents:
    settings = components.settings.model_copy(
        update={name: SecretStr(value) for name, value in keys.items()}
    )
    return FeedComponents(settings, tagger=components.tagger, scorer=components.scorer)


# -- Fear & Greed ---------------------------------------------------------------------------
@respx.mock
def test_fear_greed_history_first_then_the_newest(components) -> None:
    route = respx.get(FNG_URL)
    route.side_effect = [
        httpx.Response(200, content=fixture_bytes("fng-history.json")),
        httpx.Response(200, content=fixture_bytes("fng-latest.json")),
    ]
    source = FearGreedSource.build(components)
    first = source.poll(None, FETCHED_AT)
    assert route.calls[0].request.url.params["limit"] == "30"
    assert len(first.items) == 30 and first.cursor == "2022-06-12"
    newest = first.items[0].evidence
    assert newest.id == "fng:2022-06-12" and newest.tags["fng_value"] == "14"
    assert newest.tags["rule"] == "extreme-fear" and newest.tags["category"] == "event"
    # history items were not known before this poll: visible from now on, never earlier
    assert all(item.evidence.observed_at == FETCHED_AT for item in first.items)
    second = source.poll(first.cursor, FETCHED_AT + timedelta(hours=1))
    assert route.calls[1].request.url.params["limit"] == "3"
    assert [i.evidence.id for i in second.items] == ["fng:2022-06-13"]
    assert second.cursor == "2022-06-13"


@respx.mock
def test_fear_greed_api_error_and_out_of_range_values(components) -> None:
    respx.get(FNG_URL).respond(200, json={"data": [], "metadata": {"error": "rate limited\x00"}})
    with pytest.raises(SourceError, match="api_error"):
        FearGreedSource.build(components).poll(None, FETCHED_AT)
    rows = [
        {"value": "101", "timestamp": "1655078400"},
        {"value": "20", "timestamp": "253402300799"},  # year 9999
        {"value": True, "timestamp": "1655078400"},
        {"value": "20", "timestamp": "1655078400", "value_classification": "Fear"},
    ]
    respx.get(FNG_URL).respond(200, json={"data": rows, "metadata": {"error": None}})
    items = FearGreedSource.build(components).poll(None, FETCHED_AT).items
    assert [i.evidence.tags["fng_value"] for i in items] == ["20"]


@pytest.mark.parametrize("body", HOSTILE_JSON)
def test_hostile_json_answers(components, body: bytes) -> None:
    with respx.mock:
        respx.get(FNG_URL).respond(200, content=body)
        respx.get(COINGECKO_URL).respond(200, content=body)
        for source in (FearGreedSource.build(components), CoinGeckoGlobalSource.build(components)):
            try:
                poll = source.poll(None, FETCHED_AT)
            except SourceError as exc:
                assert exc.reason == "malformed"
            else:
                assert poll.items == []


# -- CoinGecko --------------------------------------------------------------------------------
@respx.mock
def test_coingecko_global_reading(components) -> None:
    respx.get(COINGECKO_URL).respond(200, content=fixture_bytes("coingecko-global.json"))
    source = CoinGeckoGlobalSource.build(components)
    poll = source.poll(None, FETCHED_AT)
    (item,) = poll.items
    e = item.evidence
    assert e.id == "coingecko:global:2022-06-13T08" and e.tags["category"] == "market-data"
    assert e.tags["rule"] == "market-crash" and e.severity.value == "critical"
    assert "-10.86% in 24h" in e.summary and "BTC dominance 43.7%" in e.summary
    assert "assets" not in e.tags  # market-wide: every bot's lanes may take it
    assert source.poll(poll.cursor, FETCHED_AT).items == []  # same hour: nothing new


@respx.mock
def test_coingecko_refuses_a_reading_without_numbers(components) -> None:
    body = json.loads(fixture_bytes("coingecko-global.json"))
    body["data"]["market_cap_change_percentage_24h_usd"] = "Infinity"
    respx.get(COINGECKO_URL).respond(200, json=body)
    with pytest.raises(SourceError, match="malformed"):
        CoinGeckoGlobalSource.build(components).poll(None, FETCHED_AT)


# -- Perigon ------------------------------------------------------------------------------------
def test_keyed_sources_are_off_without_their_key(components) -> None:
    for cls in (PerigonSource, CoinMarketCapSource):
        with pytest.raises(SourceError, match="no_key"):
            cls.build(components)
    with pytest.raises(SourceError, match="no_key"):
        PerigonSource.build(keyed(components, perigon_api_key="   "))


@respx.mock
def test_perigon_articles_with_the_key_in_a_header(components) -> None:
    route = respx.get(PERIGON_URL).respond(200, content=fixture_bytes("perigon-all.json"))
    source = PerigonSource.build(keyed(components, perigon_api_key="k-123"))
    poll = source.poll(None, FETCHED_AT)
    request = route.calls[0].request
    assert request.headers["x-api-key"] == "k-123" and "k-123" not in str(request.url)
    assert len(poll.items) == 2 and poll.cursor == "2022-06-13T06:45:00+00:00"
    celsius = poll.items[0].evidence
    assert celsius.tags["rule"] == "exchange-insolvency" and celsius.tags["outlet"] == "reuters.com"
    assert celsius.tags["mentions"] == "BTC,CEL" and "assets" not in celsius.tags  # critical
    source.poll(poll.cursor, FETCHED_AT)
    assert route.calls[1].request.url.params["from"] == "2022-06-13T06:45:00+00:00"


@respx.mock
def test_perigon_refused_key(components) -> None:
    respx.get(PERIGON_URL).respond(401, json={"message": "invalid key"})
    with pytest.raises(SourceError, match="http_401"):
        PerigonSource.build(keyed(components, perigon_api_key="bad")).poll(None, FETCHED_AT)


# -- CoinMarketCap ------------------------------------------------------------------------------
@respx.mock
def test_coinmarketcap_global_metrics_and_quotes(components) -> None:
    respx.get(BASE_URL + GLOBAL_PATH).respond(200, content=fixture_bytes("cmc-global.json"))
    quotes = respx.get(BASE_URL + QUOTES_PATH).respond(
        200, content=fixture_bytes("cmc-quotes.json")
    )
    source = CoinMarketCapSource.build(keyed(components, cmc_api_key="cmc-1"))
    items = {i.evidence.id: i.evidence for i in source.poll(None, FETCHED_AT).items}
    assert quotes.calls[0].request.headers["X-CMC_PRO_API_KEY"] == "cmc-1"
    assert "BTC" in quotes.calls[0].request.url.params["symbol"].split(",")
    glob = items["cmc:global:2022-06-13T08:10"]
    assert glob.tags["rule"] == "market-crash" and "assets" not in glob.tags
    btc = items["cmc:quote:BTC:2022-06-13T08:10"]
    assert btc.tags["assets"] == "BTC" and btc.tags["rule"] == "price-drop"
    assert items["cmc:quote:ETH:2022-06-13T08:10"].tags["rule"] == "price-crash"


@respx.mock
def test_coinmarketcap_api_errors(components) -> None:
    respx.get(BASE_URL + GLOBAL_PATH).respond(
        200, json={"status": {"error_code": 1002, "error_message": "API key missing."}}
    )
    with pytest.raises(SourceError, match="api_error"):
        CoinMarketCapSource.build(keyed(components, cmc_api_key="x")).poll(None, FETCHED_AT)


def test_sources_built_from_the_service_components_take_its_markets_snapshot(
    monkeypatch, tmp_path
) -> None:
    from types import SimpleNamespace

    from context_service.evidence.components import components_of
    from context_service.evidence.config import get_feed_settings

    snapshot = tmp_path / "markets.json"
    snapshot.write_text(json.dumps({"PEPE/USDT": {"base": "PEPE"}}))
    for variable in ("CTX_MARKETS_SNAPSHOT", "CTX_FEEDS_MARKETS_SNAPSHOT"):
        monkeypatch.delenv(variable, raising=False)
    get_feed_settings.cache_clear()
    try:
        host = SimpleNamespace(settings=SimpleNamespace(markets_snapshot=snapshot))
        assert "PEPE" in components_of(host).tagger.assets
        assert isinstance(CoinGeckoGlobalSource.build(host), CoinGeckoGlobalSource)
    finally:
        get_feed_settings.cache_clear()
