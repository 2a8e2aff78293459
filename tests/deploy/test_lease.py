"""Single-writer lease per sub-account on the real Redis: a second bot cannot take it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from context_service.fleet.lease import InvalidLeaseRequest, LeaseManager
from context_service.keys import InvalidBotId, Keyspace


@pytest.fixture
def leases(redis_client: redis.Redis, keyspace: Keyspace) -> LeaseManager:
    return LeaseManager(redis_client, keyspace)


def test_first_bot_gets_it_second_is_refused_with_the_holder(leases: LeaseManager) -> None:
    first = leases.acquire("subacc1", "bot-a", ttl_s=30)
    second = leases.acquire("subacc1", "bot-b", ttl_s=30)
    assert first.held and first.holder == "bot-a" and first.expires_at is not None
    assert not second.held and second.holder == "bot-a"


def test_holder_renews_and_other_accounts_are_independent(leases: LeaseManager) -> None:
    leases.acquire("subacc1", "bot-a", ttl_s=5)
    renewed = leases.acquire("subacc1", "bot-a", ttl_s=60)
    assert renewed.held
    assert leases._redis.pttl(leases._key("subacc1")) > 30_000
    assert leases.acquire("subacc2", "bot-b", ttl_s=30).held


def test_expired_lease_can_be_taken_over(leases: LeaseManager) -> None:
    leases.acquire("subacc1", "bot-a", ttl_s=5)
    # as if bot-a died and its TTL ran out: an expiry time in the past expires the key now
    leases._redis.pexpireat(leases._key("subacc1"), 1)
    taken = leases.acquire("subacc1", "bot-b", ttl_s=30)
    assert taken.held and taken.holder == "bot-b"
    # the old holder's late renewal must not steal it back
    assert not leases.acquire("subacc1", "bot-a", ttl_s=30).held


def test_release_only_by_the_holder(leases: LeaseManager) -> None:
    leases.acquire("subacc1", "bot-a", ttl_s=30)
    assert leases.release("subacc1", "bot-b") is False
    assert leases.current("subacc1").holder == "bot-a"
    assert leases.release("subacc1", "bot-a") is True
    assert leases.current("subacc1").holder is None
    assert leases.acquire("subacc1", "bot-b", ttl_s=30).held


def test_concurrent_starts_yield_exactly_one_writer(leases: LeaseManager) -> None:
    bots = [f"bot-{i}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda b: leases.acquire("subacc1", b, ttl_s=30), bots))
    winners = [r for r in results if r.held]
    assert len(winners) == 1
    assert {r.holder for r in results} == {winners[0].holder}


def test_lease_key_is_built_by_the_keyspace(leases: LeaseManager, keyspace: Keyspace) -> None:
    leases.acquire("subacc1", "bot-a", ttl_s=30)
    assert leases._redis.get(keyspace.lease("subacc1")) == "bot-a"


@pytest.mark.parametrize(
    ("account", "holder", "ttl", "error"),
    [
        ("bad account", "bot-a", 30, InvalidLeaseRequest),
        ("x}{y", "bot-a", 30, InvalidLeaseRequest),
        ("subacc1", "Bot A", 30, InvalidBotId),
        ("subacc1", "bot-a", 1, InvalidLeaseRequest),
        ("subacc1", "bot-a", 100_000, InvalidLeaseRequest),
    ],
)
def test_bad_requests_are_refused(leases: LeaseManager, account, holder, ttl, error) -> None:
    with pytest.raises(error):
        leases.acquire(account, holder, ttl_s=ttl)
