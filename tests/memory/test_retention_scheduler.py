"""The sidecar applies retention by itself, and a failing pass never stops it."""

from __future__ import annotations

import time
from datetime import timedelta

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from context_service.keys import Keyspace
from context_service.memory import Memory
from context_service.memory.redis_urls import client_from_url
from context_service.models import Evidence, utcnow
from context_service.retention import RetentionScheduler
from context_service.settings import Settings


def _wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_expired_evidence_is_purged_without_anyone_asking(redis_url, keyspace: Keyspace, tmp_path):
    client = client_from_url(redis_url, decode_responses=True)
    memory = Memory(client, keyspace, Settings(_env_file=None, journal_dir=tmp_path))
    store = memory.bot("bot-1").evidence
    now = utcnow()
    store.upsert(
        Evidence(
            id="stale",
            summary="old rumour",
            provenance={"source": "wire"},
            observed_at=now - timedelta(hours=2),
            valid_until=now - timedelta(hours=1),
        )
    )
    store.upsert(Evidence(id="fresh", summary="new", provenance={"source": "wire"}))
    scheduler = RetentionScheduler(memory, interval_s=0.05).start()
    try:
        assert _wait_for(lambda: store.get("stale") is None)
        assert store.get("fresh") is not None
    finally:
        scheduler.stop()
    assert not scheduler._thread.is_alive()
    client.close()


def test_a_failing_pass_is_retried_at_the_next_interval(tmp_path):
    # nothing listens on port 1; no client-side retries, so each pass fails at once
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.05, retry=Retry(NoBackoff(), 0))
    memory = Memory(unreachable, Keyspace(), Settings(_env_file=None, journal_dir=tmp_path))
    calls = []
    original = memory.apply_retention
    memory.apply_retention = lambda now=None: calls.append(1) or original(now)
    scheduler = RetentionScheduler(memory, interval_s=0.05).start()
    try:
        assert _wait_for(lambda: len(calls) >= 3)  # kept trying, the thread did not die
    finally:
        scheduler.stop()
