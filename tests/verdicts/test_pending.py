"""Background verdicts: one computation per ask, pending until done, bounded, expiring."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta, timezone

from prometheus_client import CollectorRegistry, generate_latest

from context_service.contract import Verdict, VerdictRequest
from context_service.verdicts.pending import (
    ABANDON_S,
    AskKey,
    AskResult,
    PendingVerdicts,
    ask_key,
)
from verdicts.support import make_request


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _verdict(request: VerdictRequest) -> Verdict:
    return Verdict(
        verdict_id=f"v-{request.pair.replace('/', '')}-{request.candle_time:%H}",
        bot_id=request.bot_id,
        pair=request.pair,
        candle_time=request.candle_time,
        candidate=request.candidate,
        action="buy",
        confidence=0.9,
        rationale="test",
        source="rules",
        manifest_id="m-1",
        created_at=request.candle_time,
    )


def _settle(table: PendingVerdicts, request: VerdictRequest) -> AskResult:
    """Ask until the background work is done (bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not table.in_progress():
            return table.ask(request)
        time.sleep(0.01)
    raise AssertionError("background verdict did not finish")


def test_pending_until_done_then_the_verdict_and_one_call_only() -> None:
    release = threading.Event()
    calls: list[tuple] = []

    def decide(request: VerdictRequest) -> Verdict:
        calls.append(ask_key(request))
        release.wait(5)
        return _verdict(request)

    clock = _Clock()
    table = PendingVerdicts(decide, clock=clock)
    request = make_request()
    first = table.ask(request)
    clock.now += 1.5
    second = table.ask(request)
    assert first.verdict is None and second.verdict is None and second.pending_s == 1.5
    release.set()
    done = _settle(table, request)
    assert done.verdict is not None and done.verdict.pair == "BTC/USDT"
    assert calls == [ask_key(request)]  # asked three times, computed once
    table.close()


def test_finished_entries_expire_and_the_table_is_bounded() -> None:
    clock = _Clock()
    table = PendingVerdicts(_verdict, keep_s=60, max_entries=2, clock=clock)
    a, b, c = make_request(i=0), make_request(i=1), make_request(i=2)
    table.ask(a)
    _settle(table, a)
    table.ask(b)
    _settle(table, b)
    # Full of finished entries: the oldest finished one (a) makes room.
    assert table.ask(c).refused is None
    _settle(table, c)
    assert set(table._entries) == {ask_key(b), ask_key(c)}
    clock.now += 61
    table.ask(a)
    assert set(table._entries) == {ask_key(a)}  # b and c expired
    table.close()


def test_a_full_table_of_running_asks_refuses_instead_of_queueing() -> None:
    release = threading.Event()

    def slow(request: VerdictRequest) -> Verdict:
        release.wait(5)
        return _verdict(request)

    table = PendingVerdicts(slow, max_entries=1)
    assert table.ask(make_request(i=0)).refused is None
    refused = table.ask(make_request(i=1))
    assert refused.verdict is None and refused.outcome == "busy"
    assert refused.refused == "too many verdict asks in progress (64)"
    release.set()
    table.close()


def test_a_bug_in_decide_is_refused_once_and_the_next_ask_retries() -> None:
    attempts = []

    def flaky(request: VerdictRequest) -> Verdict:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("boom")
        return _verdict(request)

    table = PendingVerdicts(flaky, workers=1)
    request = make_request()
    table.ask(request)
    failed = _settle(table, request)
    assert failed.verdict is None and failed.refused == "verdict failed: RuntimeError: boom"
    table.ask(request)
    assert _settle(table, request).verdict is not None and len(attempts) == 2
    table.close()


def _blocked(release: threading.Event, calls: list[AskKey]):
    def decide(request: VerdictRequest) -> Verdict:
        calls.append(ask_key(request))
        release.wait(5)
        return _verdict(request)

    return decide


def test_the_per_bot_and_total_bounds_refuse_without_starting_work() -> None:
    release, calls = threading.Event(), []
    table = PendingVerdicts(
        _blocked(release, calls), workers=2, max_in_progress=3, max_in_progress_per_bot=2
    )
    assert [table.ask(make_request(i=i)).outcome for i in range(2)] == ["pending", "pending"]
    busy_bot = table.ask(make_request(i=2))
    assert busy_bot.outcome == "busy_bot" and busy_bot.verdict is None
    assert busy_bot.refused == "too many verdict asks in progress for bot bot-1 (2)"
    # Asking again for work already in progress is no new work: never refused.
    assert table.ask(make_request(i=1)).outcome == "pending"
    assert table.ask(make_request(i=0, bot_id="bot-2")).outcome == "pending"  # another bot
    assert table.ask(make_request(i=1, bot_id="bot-3")).outcome == "busy"  # 3 in all
    assert table.in_progress() == 3 and table.in_progress("bot-1") == 2
    release.set()
    _settle(table, make_request(i=0))
    assert len(calls) == 3  # the refused asks started nothing
    # Once done, the bot may ask again.
    assert table.ask(make_request(i=2)).refused is None
    _settle(table, make_request(i=2))
    counts = table.event_counts()
    assert counts["busy_bot"] == 1 and counts["busy"] == 1 and counts["started"] == 4
    table.close()


def test_concurrent_duplicate_asks_start_one_computation() -> None:
    release, calls = threading.Event(), []
    table = PendingVerdicts(_blocked(release, calls), workers=4)
    request = make_request()
    barrier = threading.Barrier(16)
    results: list[AskResult] = []

    def ask() -> None:
        barrier.wait()
        results.append(table.ask(request))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16 and all(r.outcome == "pending" for r in results)
    release.set()
    assert _settle(table, request).verdict is not None
    assert calls == [ask_key(request)]
    table.close()


def test_one_candle_is_one_ask_whatever_its_time_zone() -> None:
    utc = make_request()
    other = utc.model_dump()
    shifted = utc.candle_time.astimezone(timezone(timedelta(hours=2)))
    other["candle_time"] = shifted
    other["snapshot"]["candle_time"] = shifted
    assert ask_key(VerdictRequest.model_validate(other)) == ask_key(utc)


def test_a_queued_ask_nobody_asks_for_is_cancelled_before_it_runs() -> None:
    release, calls = threading.Event(), []
    clock = _Clock()
    table = PendingVerdicts(_blocked(release, calls), workers=1, clock=clock)
    running, queued = make_request(i=0), make_request(i=1)
    table.ask(running)
    table.ask(queued)  # behind the running one: the only worker is busy
    deadline = time.monotonic() + 5
    while not calls:  # the first one has started
        assert time.monotonic() < deadline
        time.sleep(0.01)
    clock.now += ABANDON_S - 1
    table.ask(running)  # the bot still wants this one
    clock.now += 2
    table.ask(running)  # sweeps: the queued one was last asked more than ABANDON_S ago
    assert set(table._entries) == {ask_key(running)}
    assert table.in_progress("bot-1") == 1 and table.event_counts()["abandoned"] == 1
    release.set()
    assert _settle(table, running).verdict is not None
    assert calls == [ask_key(running)]  # the abandoned ask never cost a call
    table.close()


def test_the_first_ask_waits_a_moment_and_re_asks_never_wait() -> None:
    fast = PendingVerdicts(_verdict)
    ready = asyncio.run(fast.ask_waiting(make_request(), wait_s=2.0))
    assert ready.outcome == "verdict" and ready.verdict is not None  # answered in this ask
    fast.close()

    release, calls = threading.Event(), []
    slow = PendingVerdicts(_blocked(release, calls))
    started = time.monotonic()
    first = asyncio.run(slow.ask_waiting(make_request(), wait_s=0.3))
    waited = time.monotonic() - started
    assert first.outcome == "pending" and 0.25 <= waited < 2.0
    started = time.monotonic()
    again = asyncio.run(slow.ask_waiting(make_request(), wait_s=0.3))
    assert again.outcome == "pending" and time.monotonic() - started < 0.2
    release.set()
    slow.close()


def test_the_table_reports_its_metrics_and_leaves_the_registry_when_closed() -> None:
    registry = CollectorRegistry()
    release, calls = threading.Event(), []
    table = PendingVerdicts(_blocked(release, calls), registry=registry)
    table.ask(make_request())
    table.ask(make_request())
    text = generate_latest(registry).decode()
    assert 'ctx_verdict_asks_total{event="started"} 1.0' in text
    assert 'ctx_verdict_asks_total{event="deduplicated"} 1.0' in text
    assert "ctx_verdict_asks_in_progress 1.0" in text
    release.set()
    _settle(table, make_request())
    assert 'ctx_verdict_asks_total{event="completed"} 1.0' in generate_latest(registry).decode()
    table.close()
    assert "ctx_verdict_asks" not in generate_latest(registry).decode()
