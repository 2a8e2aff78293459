"""Decision slots and the local-first verdict route.

A few decisions do their local work at once, first come first served; a remote provider gives
its slot back while it waits; POST /v1/verdicts answers a decision that needs no remote
provider on the event loop and sends the others to a worker thread, counting each skip once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from context_service.api import create_app
from context_service.contract import Action, Verdict
from context_service.verdicts.provider import (
    Ask,
    Decision,
    ProviderSkipped,
    VerdictProvider,
    register,
    unregister,
)
from context_service.verdicts.slots import DecisionSlots
from verdicts.support import make_request

TOKEN = "slots-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 5.0


class Remote(VerdictProvider):
    """Waits on 'the network' (an event) before it answers; where it ran is kept."""

    name = "remote-test"
    remote = True
    fallback = "rules"
    release = threading.Event()
    threads: list[str] = []

    def decide(self, ask: Ask) -> Decision:
        Remote.threads.append(threading.current_thread().name)
        if not Remote.release.wait(WAIT_S):
            raise ProviderSkipped("timeout")
        return Decision(Action.buy, 0.8, "the remote model says buy")


class Skipper(VerdictProvider):
    """A local provider that never answers, in front of the remote one."""

    name = "skipper-test"
    fallback = "remote-test"
    threads: list[str] = []

    def decide(self, ask: Ask) -> Decision:
        Skipper.threads.append(threading.current_thread().name)
        raise ProviderSkipped("nothing")


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    register(Remote)
    register(Skipper)
    Remote.release.set()
    Remote.threads.clear()
    Skipper.threads.clear()
    yield
    unregister("remote-test")
    unregister("skipper-test")


# --- the slots ------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 2])
def test_no_more_than_the_slots_run_at_once_and_waiters_go_in_arrival_order(count) -> None:
    slots = DecisionSlots(count)
    running, most, order = 0, 0, []
    lock = threading.Lock()

    def work(n: int) -> None:
        nonlocal running, most
        with slots.held():
            with lock:
                running += 1
                most = max(most, running)
                order.append(n)
            time.sleep(0.02)
            with lock:
                running -= 1

    for _ in range(count):
        slots.acquire()  # every slot taken: everyone below queues
    threads = []
    for n in range(6):
        thread = threading.Thread(target=work, args=(n,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + WAIT_S
        while slots.waiting < n + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    assert slots.waiting == 6
    for _ in range(count):
        slots.release()
    for thread in threads:
        thread.join(WAIT_S)
    assert most == count
    if count == 1:
        assert order == list(range(6))  # first come, first served
    assert sorted(order) == list(range(6))
    assert slots.waiting == 0
    for _ in range(count):  # and every slot is free again
        slots.acquire()


@pytest.mark.parametrize("count", [0, -1])
def test_a_slot_count_below_one_is_refused(count) -> None:
    with pytest.raises(ValueError, match="at least one"):
        DecisionSlots(count)


def test_a_remote_provider_gives_its_slot_back_while_it_waits(make_service) -> None:
    service = make_service(llm=False, decision_slots=1)
    Remote.release.clear()
    slow: list[Verdict] = []
    thread = threading.Thread(
        target=lambda: slow.append(service.decide(make_request(0), ["remote-test"]))
    )
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not Remote.threads and time.monotonic() < deadline:
        time.sleep(0.001)
    # The only slot is free while the remote call waits: a rules decision goes through.
    fast = service.decide(make_request(1, pair="ETH/USDT"), ["rules"])
    assert fast.source == "rules"
    Remote.release.set()
    thread.join(WAIT_S)
    assert [v.source for v in slow] == ["remote-test"]
    assert service.slots.waiting == 0


# --- the route ------------------------------------------------------------------------------
def _post(http: TestClient, i: int) -> Verdict:
    response = http.post("/v1/verdicts", json=make_request(i).model_dump(mode="json"), headers=AUTH)
    assert response.status_code == 200, response.text
    return Verdict.model_validate(response.json())


def _fallbacks(service, provider: str, reason: str) -> float:
    labels = {"provider": provider, "reason": reason}
    found = service.components.metrics.registry.get_sample_value(
        "ctx_verdict_fallbacks_total", labels
    )
    return found or 0.0


def test_a_local_chain_is_answered_on_the_event_loop(make_service) -> None:
    register(type("Here", (Skipper,), {"name": "here-test", "fallback": "rules"}))
    try:
        service = make_service(llm=False, verdict_provider="here-test", api_token=TOKEN)
        with TestClient(create_app(service=service)) as http:
            verdict = _post(http, 0)
        assert (verdict.source, verdict.fallback_reason) == ("rules", "here-test:nothing")
        assert Skipper.threads and "AnyIO worker" not in Skipper.threads[0]
        assert _fallbacks(service, "here-test", "nothing") == 1
    finally:
        unregister("here-test")


@pytest.mark.parametrize("on_loop", [True, False])
def test_a_chain_that_reaches_a_remote_provider_runs_it_in_a_worker_thread(
    make_service, on_loop
) -> None:
    service = make_service(
        llm=False, verdict_provider="skipper-test", api_token=TOKEN, decide_on_loop=on_loop
    )
    with TestClient(create_app(service=service)) as http:
        verdict = _post(http, 0)
        assert (verdict.source, verdict.action) == ("remote-test", "buy")
        assert verdict.fallback_reason == "skipper-test:nothing"
        assert all("AnyIO worker" in name for name in Remote.threads)
        # The local attempt stopped before the remote provider: the skip is counted once, and
        # one verdict was recorded.
        assert len(Skipper.threads) == (2 if on_loop else 1)
        assert _fallbacks(service, "skipper-test", "nothing") == 1
        audit = service.components.memory.bot("bot-1").audit.query(kind="verdict")
        assert len(audit) == 1
        # And the next request is served the same way.
        assert _post(http, 1).source == "remote-test"
    assert _fallbacks(service, "skipper-test", "nothing") == 2
