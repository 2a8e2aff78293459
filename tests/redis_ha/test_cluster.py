"""A real three-node Redis Cluster: each bot's keys share one slot, and the memory, ledger and
lease test modules pass unchanged against it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis_procs import LocalCluster

from context_service.fleet.lease import LeaseManager
from context_service.keys import Keyspace
from context_service.memory import Memory, TradeEvent, connect
from context_service.models import Evidence
from context_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Trade memory (compact records, incremental insights, WAIT), insights, isolation, audit, the
# cost ledger (its Lua scripts and 50 concurrent reservations) and the lease. The evidence
# store's transactions run in the test above; its 5,000-object and property tests are left to
# the normal run (time).
SUITE = [
    "tests/memory/test_memory_trades.py",
    "tests/memory/test_memory_compact.py",
    "tests/memory/test_memory_insights.py",
    "tests/memory/test_memory_isolation.py",
    "tests/memory/test_memory_audit.py",
    "tests/memory/test_memory_retention.py",
    "tests/llm/test_ledger.py",
    "tests/deploy/test_lease.py",
]
T0 = datetime(2024, 5, 3, 12, tzinfo=UTC)


def _settings(cluster: LocalCluster, tmp_path: Path) -> Settings:
    return Settings(_env_file=None, redis_url=cluster.url, journal_dir=tmp_path / "journal")


def test_the_sidecar_connects_to_the_cluster_and_spreads_bots_over_its_nodes(
    redis_cluster: LocalCluster, tmp_path: Path
) -> None:
    client = connect(_settings(redis_cluster, tmp_path))
    assert isinstance(client, RedisCluster)
    keyspace = Keyspace(prefix="hacluster")
    memory = Memory(client, keyspace, _settings(redis_cluster, tmp_path))
    owners = set()
    for index in range(12):
        bot = memory.bot(f"bot-{index}")
        bot.evidence.upsert(
            Evidence(id="n1", summary="x", provenance={"source": "t"}, observed_at=T0), now=T0
        )
        bot.record_trade_event(
            TradeEvent(
                bot_id=f"bot-{index}",
                trade_id=1,
                order_id="close",
                event="trade_closed",
                pair="BTC/USDT",
                side="sell",
                time=T0 + timedelta(hours=1),
                price=1,
                amount=1,
                realized_profit=0.5,
                open_time=T0,
            )
        )
        keys = list(client.scan_iter(match=keyspace.bot(f"bot-{index}").pattern))
        slots = {key_slot(k.encode() if isinstance(k, str) else k) for k in keys}
        assert len(keys) >= 5 and len(slots) == 1  # one bot, one slot
        owners.add(client.get_node_from_key(keys[0]).port)
        assert bot.stats().trades == 1
    assert len(owners) > 1  # twelve bots do not all land on one node
    leases = LeaseManager(client, keyspace)
    assert leases.acquire("subacc1", "bot-1", ttl_s=30).held
    assert not leases.acquire("subacc1", "bot-2", ttl_s=30).held
    doomed = list(client.scan_iter(match=keyspace.pattern))
    client.delete(*doomed)
    client.close()


@pytest.mark.slow
def test_memory_ledger_and_lease_tests_pass_against_the_cluster(
    redis_cluster: LocalCluster,
) -> None:
    env = dict(os.environ, CTX_TEST_REDIS_URL=redis_cluster.url)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary
