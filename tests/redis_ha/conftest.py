"""Real local Redis Cluster and Sentinel groups (private processes on free loopback ports)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_procs import LocalCluster, SentinelGroup, redis7_server_binary


def _redis7() -> str:
    binary = redis7_server_binary()
    if binary is None:
        pytest.skip("needs redis-server 7 or later: apt-get install redis-server")
    return binary


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), _redis7())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path / "sentinel", _redis7())
    try:
        group.start()
        yield group
    finally:
        group.stop()
