"""Finding and running Docker Compose (``docker compose`` v2 or the older ``docker-compose``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

DEFAULT_SOCKET = "/var/run/docker.sock"
START_ADVICE = (
    "start it (Linux: 'sudo systemctl start docker'; macOS/Windows: open Docker Desktop) "
    "or point DOCKER_HOST at a running one, then retry"
)


class ComposeNotFound(RuntimeError):
    """Neither ``docker compose`` nor ``docker-compose`` is installed."""


class EngineUnreachable(RuntimeError):
    """Compose is installed but no Docker engine answers; the message is one line of advice."""


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"


def check_engine(timeout_s: float = 15.0) -> None:
    """Raise :class:`EngineUnreachable` unless a Docker engine answers.

    Asked before any compose command that needs the engine, so that a stopped engine is one
    clear line instead of docker-compose's long traceback.
    """
    address = engine_address()
    problem = f"no Docker engine is reachable at {address}: {START_ADVICE}"
    docker = shutil.which("docker")
    if docker:
        try:
            probe = subprocess.run(
                [docker, "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EngineUnreachable(problem) from None
        if probe.returncode != 0 or not probe.stdout.strip():
            raise EngineUnreachable(problem)
        return
    # docker-compose without the docker CLI: at least the engine's socket must accept us.
    if address.startswith("unix://"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            try:
                sock.connect(address.removeprefix("unix://"))
            except OSError:
                raise EngineUnreachable(problem) from None


def find_compose() -> list[str]:
    """The compose command line prefix available on this machine."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise ComposeNotFound(
        "Docker Compose not found: install Docker with the compose plugin ('docker compose') "
        "or the docker-compose package"
    )


def compose_base(command: Sequence[str], project: str, root: Path, compose_file: Path) -> list[str]:
    return [
        *command,
        "--project-name", project,
        "--project-directory", str(root),
        "--file", str(compose_file),
    ]  # fmt: skip


def run(argv: Sequence[str], cwd: Path) -> int:
    """Run one compose command, streaming its output; its exit status is returned."""
    return subprocess.run(list(argv), cwd=cwd, check=False).returncode
