"""The audit trail answers "what did the bot see and decide at that moment, and why"."""

from __future__ import annotations

from datetime import datetime, timedelta

import redis

from context_service.keys import Keyspace
from context_service.service import ContextService
from verdicts.support import NOW, T0, make_request, make_settings


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


def test_a_verdict_is_recorded_in_one_round_trip_even_on_a_server_without_the_script(
    redis_server,
) -> None:
    """The audit entry rides in the recording pipeline by the script's digest alone. A fresh
    server (and one whose scripts were flushed) answers NOSCRIPT: the entry is then appended
    the usual way, once, and the verdicts after it are recorded as before."""
    client = redis.Redis.from_url(redis_server.url)
    service = ContextService(
        make_settings(llm_enabled=False, verdict_provider="rules"),
        client,
        Keyspace(prefix="audit-rtt"),
        clock=lambda: NOW,
    )
    audit = service.components.memory.bot("bot-1").audit
    commands: list[str] = []
    pipelines = redis.client.Pipeline.execute

    def counted(pipe, raise_on_error=True):
        commands.append(" ".join(str(c[0][0]) for c in pipe.command_stack))
        return pipelines(pipe, raise_on_error)

    first = service.decide(make_request(0))  # the server has never seen the script
    client.script_flush()
    redis.client.Pipeline.execute = counted  # type: ignore[method-assign]
    try:
        second = service.decide(make_request(1))  # flushed: NOSCRIPT again
        third = service.decide(make_request(2))  # loaded by the fallback
    finally:
        redis.client.Pipeline.execute = pipelines  # type: ignore[method-assign]

    verdicts = audit.query(kind="verdict")
    assert [e.payload["verdict"]["verdict_id"] for e in verdicts] == [
        first.verdict_id,
        second.verdict_id,
        third.verdict_id,
    ]
    assert [v.verdict_id for v in service.recent_verdicts("bot-1")] == [
        third.verdict_id,
        second.verdict_id,
        first.verdict_id,
    ]
    recording = [c for c in commands if c.startswith("EVALSHA")]
    assert recording == ["EVALSHA LPUSH LTRIM"] * 2  # the entry and the list in one pipeline
    assert not any("SCRIPT" in c for c in commands)
    service.close()
