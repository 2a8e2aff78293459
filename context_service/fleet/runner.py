"""Finding and running Docker Compose (``docker compose`` v2 or the older ``docker-compose``)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


class ComposeNotFound(RuntimeError):
    """Neither ``docker compose`` nor ``docker-compose`` is installed."""


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
