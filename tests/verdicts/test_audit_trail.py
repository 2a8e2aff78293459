"""The audit trail answers "what did the bot see and decide at that moment, and why"."""

from __future__ import annotations

from datetime import datetime, timedelta

from verdicts.support import T0, make_request


def test_a_backtest_decision_is_filed_at_its_candle_with_what_it_saw(make_service):
    # The service's clock is the wall clock of the run; the decision is about a candle in 2022.
    service = make_service(llm=False, verdict_provider="rules", evidence_store="memory")
    service.clock = lambda: datetime.fromisoformat("2026-11-21T06:00:00+00:00")
    request = make_request(3, as_of=True)
    verdict = service.decide(request)

    (entry,) = service.components.memory.bot("bot-1").audit.at(
        request.as_of, window=timedelta(minutes=1)
    )
    assert entry.kind == "verdict"
    assert entry.payload["verdict"]["verdict_id"] == verdict.verdict_id
    seen = entry.payload["manifest"]["included"]
    assert any(object_id.startswith("ta:BTC/USDT") for object_id in seen)
    assert entry.payload["verdict"]["source"] == "rules"  # and why: rationale, fallbacks
    assert "rationale" in entry.payload["verdict"] and "fallbacks" in entry.payload


def test_every_synthesis_is_audited_with_its_manifest(make_service):
    service = make_service(llm=False, verdict_provider="rules")
    service.decide(make_request(0))
    as_of = T0 + timedelta(hours=1)
    synthesis = service.synthesize("bot-1", 800, as_of=as_of)

    entries = service.components.memory.bot("bot-1").audit.query(kind="synthesis")
    (entry,) = [e for e in entries if e.at == as_of]
    assert entry.payload["manifest_id"] == synthesis.manifest.manifest_id
    assert entry.payload["included"] == synthesis.manifest.included_ids()
    assert entry.payload["total_tokens"] == synthesis.manifest.total_tokens <= 800
