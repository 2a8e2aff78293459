"""Background verdicts: one computation per ask, pending until done, bounded, expiring."""

from __future__ import annotations

import threading
import time

from context_service.contract import Verdict, VerdictRequest
from context_service.verdicts.pending import AskResult, PendingVerdicts, ask_key
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
    assert refused.verdict is None and refused.refused == "too many verdicts in progress"
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
