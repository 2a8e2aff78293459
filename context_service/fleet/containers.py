"""Bot containers for staged deploys: what one instance is, and the runner that starts it.

An *instance* is one container of a bot at one image. The live instance holds the sub-account
lease under its own holder name (``CTX_LEASE_HOLDER``), so two instances of the same bot are
told apart by the lease. A canary runs beside the live one in dry-run under its own memory
identity and a pseudo-account, so it touches neither the live bot's memory nor its lease.

:class:`ContainerRunner` is the extension point (Docker here, a fake in the tests, any other
engine by subclassing it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from context_service.fleet.compose import GENERATED_DIR, bot_service
from context_service.fleet.model import BotSpec, Fleet

HOLDER_MAX = 32


@dataclass(frozen=True)
class Instance:
    """One container of a bot."""

    name: str  # container name
    bot_id: str  # the bot of the fleet file
    image: str
    generation: int
    identity: str  # memory namespace / bot id the container reports as
    account: str  # the lease it takes (a pseudo-account for a canary)
    holder: str  # its lease holder name
    live: bool  # False: dry-run canary
    strategy_version: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        return cls(**data)


def holder_name(bot_id: str, generation: int) -> str:
    """A lease holder name of at most 32 characters, unique per bot and generation."""
    suffix = f"-g{generation}"
    return f"{bot_id[: HOLDER_MAX - len(suffix)].rstrip('-')}{suffix}"


def container_name(project: str, bot_id: str, generation: int, canary: bool = False) -> str:
    return f"{project}-bot-{bot_id}-g{generation}{'-canary' if canary else ''}"


class ContainerRunner:
    """Starts and stops bot containers. Subclass it for another engine."""

    def start(self, instance: Instance) -> None:
        """Start ``instance`` (create it, or start it again when it exists stopped)."""
        raise NotImplementedError

    def stop(self, name: str) -> None:
        """Stop the container (graceful), keep it for a rollback. No error when absent."""
        raise NotImplementedError

    def remove(self, name: str) -> None:
        """Stop and delete the container. No error when absent."""
        raise NotImplementedError

    def status(self, name: str) -> dict[str, Any]:
        """``{"running": bool, "restarts": int, "heartbeat_age_s": float | None}``."""
        raise NotImplementedError


class DockerError(RuntimeError):
    """A docker command failed."""


class DockerRunner(ContainerRunner):
    """Runs instances with the ``docker`` CLI, from the same service definition as compose."""

    def __init__(self, fleet: Fleet, root: Path, docker: str | None = None) -> None:
        self.fleet = fleet
        self.root = root
        self.docker = docker or shutil.which("docker") or "docker"

    def _docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.docker, *args], cwd=self.root, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise DockerError(f"docker {args[0]} failed: {result.stderr.strip()[-500:]}")
        return result

    def run_argv(self, instance: Instance) -> list[str]:
        """The ``docker run`` arguments of ``instance`` (tested without Docker)."""
        bot = self.fleet.bot(instance.bot_id)
        service = bot_service(self.fleet, bot)
        argv = ["run", "--detach", "--name", instance.name, "--restart", "unless-stopped"]
        argv += ["--network", f"{self.fleet.project}_backend"]
        for env_file in service["env_file"]:
            argv += ["--env-file", str(self.root / env_file)]
        environment = dict(service["environment"])
        # Freqtrade reads FREQTRADE__SECTION__KEY variables over its config files.
        environment |= {
            "CTX_BOT_ID": instance.identity,
            "FREQTRADE__DRY_RUN": "false" if instance.live else "true",
            "FREQTRADE__CONTEXT__BOT_ID": instance.identity,
            "FREQTRADE__CONTEXT__ACCOUNT": instance.account,
            "FREQTRADE__CONTEXT__LEASE_HOLDER": instance.holder,
        }
        if instance.strategy_version:
            environment["CTX_STRATEGY_VERSION"] = instance.strategy_version
        for key, value in sorted(environment.items()):
            argv += ["--env", f"{key}={value}"]
        for volume in service["volumes"]:
            source, _, target = volume.partition(":")
            if source.startswith("./"):
                source = str(self.root / source[2:])
            argv += ["--volume", f"{source}:{target}"]
        for option in service.get("security_opt", []):
            argv += ["--security-opt", option]
        for capability in service.get("cap_drop", []):
            argv += ["--cap-drop", capability]
        argv += ["--cpus", str(service["cpus"]), "--memory", service["mem_limit"]]
        argv += ["--pids-limit", str(service["pids_limit"])]
        command = list(service["command"])
        if instance.live:  # the canary has no published port: it would clash with the live one
            argv += ["--publish", service["ports"][0]]
        else:  # nor the live bot's trade database
            at = command.index("--db-url") + 1
            command[at] = command[at].replace("tradesv3.sqlite", "tradesv3.canary.sqlite")
        return [*argv, instance.image, *command]

    def start(self, instance: Instance) -> None:
        found = self._docker("container", "inspect", instance.name, check=False)
        if found.returncode == 0:
            self._docker("start", instance.name)
            return
        (self.root / GENERATED_DIR).mkdir(parents=True, exist_ok=True)
        self._docker(*self.run_argv(instance))
        # the backend network is internal; the egress one reaches the exchange
        self._docker("network", "connect", f"{self.fleet.project}_egress", instance.name)

    def stop(self, name: str) -> None:
        self._docker("stop", "--time", "30", name, check=False)

    def remove(self, name: str) -> None:
        self._docker("rm", "--force", name, check=False)

    def status(self, name: str) -> dict[str, Any]:
        found = self._docker(
            "container",
            "inspect",
            "--format",
            "{{.State.Running}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}"
            "{{else}}none{{end}}",
            name,
            check=False,
        )
        if found.returncode != 0:
            return {"running": False, "restarts": 0, "heartbeat_age_s": None}
        running, restarts, health = found.stdout.split()
        # Docker's healthcheck pings the bot's REST API every 30 s: "healthy" is a heartbeat
        # at most one interval old.
        age = 0.0 if health in ("healthy", "none") else None
        return {"running": running == "true", "restarts": int(restarts), "heartbeat_age_s": age}


def canary_of(bot: BotSpec, project: str, image: str, generation: int, version: str | None):
    """The dry-run canary of ``bot`` at ``image``."""
    identity = f"{bot.id[:25].rstrip('-')}-canary"
    return Instance(
        name=container_name(project, bot.id, generation, canary=True),
        bot_id=bot.id,
        image=image,
        generation=generation,
        identity=identity,
        account=f"{bot.account[:56]}.canary",
        holder=holder_name(identity, generation),
        live=False,
        strategy_version=version,
    )


def live_of(bot: BotSpec, project: str, image: str, generation: int, version: str | None):
    return Instance(
        name=container_name(project, bot.id, generation),
        bot_id=bot.id,
        image=image,
        generation=generation,
        identity=bot.id,
        account=bot.account,
        holder=holder_name(bot.id, generation),
        live=True,
        strategy_version=version,
    )


def wait(seconds: float) -> None:  # pragma: no cover - replaced in tests
    time.sleep(seconds)
