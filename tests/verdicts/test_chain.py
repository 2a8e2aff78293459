"""The verdict chain in-process: rules path, chosen providers, point-in-time evidence, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from context_service.models import Evidence, Provenance
from context_service.verdicts.chain import resolve_chain
from verdicts.support import T0, make_request


def test_backtest_default_is_rules_with_no_llm_and_audited(make_service) -> None:
    service = make_service(
        llm=False, llm_enabled=False, verdict_provider="rules", evidence_store="memory"
    )

    buy = service.decide(make_request(0, as_of=True))
    hold = service.decide(make_request(1, rsi=85.0, as_of=True))

    assert (buy.source, buy.action, buy.fallback_reason) == ("rules", "buy", None)
    assert hold.action == "hold" and "RSI below 70" in hold.rationale
    assert buy.evidence_ids == ["ta:BTC/USDT:1h"] and buy.context_tokens > 0
    entries = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    assert [e.payload["verdict"]["verdict_id"] for e in entries] == [
        buy.verdict_id,
        hold.verdict_id,
    ]
    assert entries[0].payload["manifest"]["manifest_id"] == buy.manifest_id
    assert [v.verdict_id for v in service.recent_verdicts("bot-1")] == [
        hold.verdict_id,
        buy.verdict_id,
    ]


def test_rules_verdicts_are_deterministic_across_services(make_service) -> None:
    first = make_service(llm=False, verdict_provider="rules", evidence_store="memory")
    second = make_service(llm=False, verdict_provider="rules", evidence_store="memory")
    a = first.decide(make_request(3, as_of=True))
    b = second.decide(make_request(3, as_of=True))
    assert (a.verdict_id, a.action, a.confidence, a.context_hash) == (
        b.verdict_id,
        b.action,
        b.confidence,
        b.context_hash,
    )


def test_as_of_context_never_contains_later_evidence(make_service) -> None:
    service = make_service(llm=False, verdict_provider="rules", evidence_store="memory")
    service.decide(make_request(0, pair="ETH/USDT", as_of=True))
    service.decide(make_request(10, pair="SOL/USDT", as_of=True))  # a later candle

    earlier = service.decide(make_request(1, as_of=True))
    audited = (
        service.components.memory.bot("bot-1").audit.query(kind="verdict")[-1].payload["manifest"]
    )
    assert audited["manifest_id"] == earlier.manifest_id

    seen = service.synthesize("bot-1", as_of=earlier.candle_time).manifest.included_ids()
    assert "ta:ETH/USDT:1h" in seen and "ta:BTC/USDT:1h" in seen
    assert "ta:SOL/USDT:1h" not in seen  # observed 9 hours after this decision's as_of
    assert earlier.source == "rules"


def test_memory_evidence_store_keeps_evidence_out_of_redis(
    make_service, redis_client, keyspace
) -> None:
    service = make_service(llm=False, verdict_provider="rules", evidence_store="memory")
    service.decide(make_request(0, as_of=True))
    assert redis_client.hlen(keyspace.bot("bot-1").objects) == 0
    redis_backed = make_service(llm=False, verdict_provider="rules")
    redis_backed.decide(make_request(0, as_of=True))
    assert redis_client.hlen(keyspace.bot("bot-1").objects) == 1


def test_snapshot_evidence_is_dated_at_its_candle(make_service) -> None:
    service = make_service(llm=False, verdict_provider="rules")
    service.decide(make_request(2))
    stored = service.engine("bot-1").get("ta:BTC/USDT:1h")
    assert stored.observed_at == T0.replace(hour=2)
    assert stored.tags == {"category": "market-data", "pair": "BTC/USDT", "timeframe": "1h"}


@pytest.mark.parametrize(
    ("providers", "start", "chain"),
    [
        (None, "rules", ["rules", "hold"]),
        (None, "replay", ["replay", "llm", "rules", "hold"]),
        (["replay", "rules"], "rules", ["replay", "rules", "hold"]),
        (["hold", "llm"], "rules", ["llm", "hold"]),
    ],
)
def test_resolve_chain(providers, start, chain) -> None:
    assert resolve_chain(providers, start) == chain


def test_unknown_provider_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown verdict provider.*oracle"):
        resolve_chain(["oracle"], "rules")


def test_hold_answers_when_nothing_else_can(make_service) -> None:
    service = make_service(llm=False)
    verdict = service.decide(make_request(), ["replay", "llm"])
    assert (verdict.source, verdict.action, verdict.confidence) == ("hold", "hold", 0.0)
    assert verdict.fallback_reason == "replay:miss; llm:disabled"


def test_reused_synthesis_sees_writes_from_other_writers(make_service) -> None:
    service = make_service(llm=False, verdict_provider="rules")
    first = service.synthesize("bot-1", 500, as_of=T0)
    # Another process (e.g. trade memory's insights) writes straight to the bot's Redis store.
    other = make_service(llm=False)
    other.components.memory.bot("bot-1").evidence.upsert(
        Evidence(
            id="late-news",
            summary="Exchange halts withdrawals",
            tags={"category": "news"},
            provenance=Provenance(source="feed"),
            observed_at=T0 - timedelta(minutes=1),
        )
    )

    second = service.synthesize("bot-1", 500, as_of=T0)

    assert "late-news" not in first.text and "[late-news]" in second.text
    assert service.synthesize("bot-1", 500, as_of=T0) is second  # unchanged: reused


def test_a_redis_failure_in_replay_or_the_llm_guardrails_falls_back(make_service) -> None:
    service = make_service()

    def broken(*args, **kwargs):
        raise redis.ConnectionError("connection refused")

    service.components.replay.get = broken  # type: ignore[method-assign]
    service.provider("llm").guarded.limiter.acquire = broken  # type: ignore[attr-defined]

    verdict = service.decide(make_request())

    assert verdict.source == "rules"
    assert verdict.fallback_reason == "replay:redis_error; llm:redis_error"
