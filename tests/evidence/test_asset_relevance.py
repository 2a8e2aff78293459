"""A decision about one pair takes market-wide items and items about its asset, not items
about other assets only (the manifest says ``other-asset``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from context_service.engine import ContextEngine
from context_service.engine.table import ASSET_BITS
from context_service.models import Evidence, Provenance

T0 = datetime(2022, 6, 13, 8, tzinfo=UTC)


def item(object_id: str, assets: str | None) -> Evidence:
    tags = {"category": "news"} | ({"assets": assets} if assets else {})
    return Evidence(
        id=object_id,
        summary=f"story {object_id}",
        tags=tags,
        provenance=Provenance(source="feed:test"),
        observed_at=T0 - timedelta(hours=1),
    )


def test_relevance_by_asset() -> None:
    engine = ContextEngine()
    engine.upsert_many(
        [item("btc", "BTC"), item("doge", "DOGE"), item("both", "BTC,DOGE"), item("all", None)]
    )
    btc = engine.synthesize(2000, as_of=T0, assets=["BTC"]).manifest
    assert sorted(btc.included_ids()) == ["all", "both", "btc"]
    assert btc.entry("doge").reason == "other-asset"
    doge = engine.synthesize(2000, as_of=T0, assets=["doge"]).manifest
    assert sorted(doge.included_ids()) == ["all", "both", "doge"]
    never_tagged = engine.synthesize(2000, as_of=T0, assets=["XRP"]).manifest
    assert never_tagged.included_ids() == ["all"]
    everyone = engine.synthesize(2000, as_of=T0).manifest
    assert len(everyone.included_ids()) == 4


def test_retagging_and_removal_update_the_bits() -> None:
    engine = ContextEngine()
    engine.upsert(item("a", "SOL"))
    assert engine.synthesize(500, as_of=T0, assets=["BTC"]).manifest.included_ids() == []
    engine.upsert(item("a", "BTC"))  # tags merge key by key: "assets" is replaced
    assert engine.synthesize(500, as_of=T0, assets=["BTC"]).manifest.included_ids() == ["a"]
    engine.delete("a")
    engine.upsert(item("b", None))
    assert engine.synthesize(500, as_of=T0, assets=["BTC"]).manifest.included_ids() == ["b"]


def test_more_assets_than_bits_match_too_often_never_too_rarely() -> None:
    engine = ContextEngine()
    engine.upsert_many([item(f"x{i}", f"A{i}") for i in range(ASSET_BITS + 5)])
    last = f"A{ASSET_BITS + 4}"
    included = engine.synthesize(50_000, as_of=T0, assets=[last]).manifest.included_ids()
    assert f"x{ASSET_BITS + 4}" in included and "x0" not in included
