"""Claims of asynchronous asks in Redis: one process runs an ask, any process answers it."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from context_service.keys import Keyspace
from context_service.verdicts.claims import AskClaims, Elsewhere
from context_service.verdicts.pending import PendingVerdicts
from verdicts.support import make_request
from verdicts.test_pending import _settle, _verdict


def _claims(client: redis.Redis, keyspace: Keyspace, **kwargs) -> AskClaims:
    return AskClaims(client, keyspace, kwargs.pop("claim_ttl_s", 30.0), 900.0, **kwargs)


def _key(keyspace: Keyspace, i: int = 0) -> str:
    request = make_request(i)
    candle = int(request.candle_time.timestamp())
    return keyspace.bot("bot-1").verdict_ask("entry", candle, request.pair)


def test_one_process_claims_the_others_see_it_running_then_its_verdict(
    redis_client: redis.Redis, keyspace: Keyspace
) -> None:
    clock = [1000.0]
    one = _claims(redis_client, keyspace, clock=lambda: clock[0])
    two = _claims(redis_client, keyspace, clock=lambda: clock[0])
    request = make_request()
    assert one.find(request) is None
    found, token = one.claim(request)
    assert found is None and token is not None
    clock[0] += 2.5
    assert two.claim(request) == (Elsewhere(2.5), None)
    assert two.find(request) == Elsewhere(2.5)
    verdict = _verdict(request)
    one.finish(request, verdict)
    assert two.find(request) == verdict and two.claim(request) == (verdict, None)
    assert 0 < redis_client.pttl(_key(keyspace)) <= 900_000  # kept keep_s, then gone


def test_a_released_or_expired_claim_lets_the_next_process_run_it(
    redis_client: redis.Redis, keyspace: Keyspace
) -> None:
    one = _claims(redis_client, keyspace, claim_ttl_s=1.0)
    two = _claims(redis_client, keyspace)
    first, second = make_request(0), make_request(1)
    _, token = one.claim(first)
    two.release(first, "not-the-owner")  # only the owner's token releases it
    assert isinstance(two.claim(first)[0], Elsewhere)
    one.release(first, token)  # e.g. the run failed
    assert two.claim(first)[0] is None
    one.claim(second)  # then the process died: its claim expires (claim_ttl_s)
    assert isinstance(two.claim(second)[0], Elsewhere)
    time.sleep(1.1)
    assert two.claim(second)[0] is None


def test_a_leftover_claim_of_this_process_is_taken_over(
    redis_client: redis.Redis, keyspace: Keyspace
) -> None:
    """Its release failed (Redis was down): nothing runs it here, so it is stale."""
    one = _claims(redis_client, keyspace)
    request = make_request()
    one.claim(request)
    assert one.find(request) is None
    found, token = one.claim(request)
    assert found is None and token is not None
    assert json.loads(redis_client.get(_key(keyspace)))["owner"] == one.owner


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "[1, 2]",
        '{"owner": 5, "at": 1}',
        '{"owner": "x", "at": "soon"}',
        '{"owner": "x"}',
        '{"verdict": {"action": "buy"}}',
        json.dumps({"verdict": json.loads(_verdict(make_request(1)).model_dump_json())}),
        "x" * 100_000,
    ],
    ids=[
        "text",
        "list",
        "owner-type",
        "at-type",
        "no-at",
        "bad-verdict",
        "other-candle",
        "huge",
    ],
)
def test_unreadable_contents_are_replaced_by_a_claim(
    redis_client: redis.Redis, keyspace: Keyspace, stored: str
) -> None:
    one = _claims(redis_client, keyspace)
    request = make_request()
    redis_client.set(_key(keyspace), stored)
    assert one.find(request) is None  # nothing usable: the ask may start
    found, token = one.claim(request)
    assert found is None and token is not None
    one.finish(request, _verdict(request))  # and the good ask afterwards works
    assert one.find(request) == _verdict(request)


@pytest.mark.parametrize(
    "claim",
    ['{"owner": "other", "at": NaN}', '{"owner": "other", "at": 1e308}', '{"owner": "o", "at": 1}'],
    ids=["nan", "far-future", "older-than-any-claim"],
)
def test_a_claim_that_cannot_be_running_is_replaced(
    redis_client: redis.Redis, keyspace: Keyspace, claim: str
) -> None:
    """Claims are written with a TTL: one that reads as older than it (or never) was hand-made
    or left without expiry, and must not block the ask for ever."""
    redis_client.set(_key(keyspace), claim)  # no TTL
    one = _claims(redis_client, keyspace)
    assert one.find(make_request()) is None
    assert one.claim(make_request())[0] is None


def test_two_tables_that_both_queued_an_ask_run_it_once(
    redis_client: redis.Redis, keyspace: Keyspace, monkeypatch
) -> None:
    """Both sidecars found nobody on it and queued it: the first to run claims it, the other
    finds the claim when its turn comes, runs nothing, and answers from the first one."""
    release = threading.Event()
    calls: list[str] = []

    def decide(name: str):
        def run(request):
            calls.append(name)
            release.wait(5)
            return _verdict(request)

        return run

    one = PendingVerdicts(decide("one"), claims=_claims(redis_client, keyspace))
    two_claims = _claims(redis_client, keyspace)
    two = PendingVerdicts(decide("two"), claims=two_claims)
    request = make_request()
    one.ask(request)
    deadline = time.monotonic() + 5
    while not calls:  # one is running it, its claim is taken
        assert time.monotonic() < deadline
        time.sleep(0.01)
    monkeypatch.setattr(two_claims, "find", lambda request: None)  # it looked before the claim
    assert two.ask(request).outcome == "pending"
    skipped = _settle(two, request)
    assert skipped.verdict is None and skipped.refused is None  # pending: one has it
    assert two.event_counts()["elsewhere"] == 1 and two.in_progress() == 0
    monkeypatch.undo()
    release.set()
    assert _settle(one, request).verdict == _verdict(request)
    assert two.ask(request).verdict == _verdict(request)  # answered from one's work
    assert calls == ["one"]
    one.close()
    two.close()
