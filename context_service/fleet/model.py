"""The fleet file (``bots.yaml``): which bots run, on which sub-account, with which budget.

Users copy ``bots.example.yaml`` to ``bots.yaml`` and edit it. Loading validates everything that
can be checked without touching the disk or the network (ids, pairs, ports, duplicates); the
checks that look at env files live in :mod:`context_service.fleet.checks`.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from context_service.keys import validate_bot_id

# KuCoin sub-account names are 7-32 letters and digits; allow '-', '_' and '.' for other venues.
log = logging.getLogger(__name__)
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PAIR_RE = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")
MEMORY_RE = re.compile(r"^[1-9][0-9]*[kmgKMG]$")
KUCOIN_TIMEFRAMES = (
    *("1m", "3m", "5m", "15m", "30m"),
    *("1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w"),
)
BOT_API_PORT_IN_CONTAINER = 8080


class FleetFileError(ValueError):
    """The fleet file cannot be read or does not describe a valid fleet."""


class Resources(BaseModel):
    """CPU and memory limits of one container."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float = Field(default=1.0, gt=0, le=64)
    memory: str = Field(default="1g", description="Docker memory size, e.g. 512m or 1g")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not MEMORY_RE.fullmatch(value):
            raise ValueError(f"memory {value!r} must look like 512m or 1g")
        return value.lower()


class BotSpec(BaseModel):
    """One Freqtrade bot: its own container, sub-account key, memory namespace, db and port."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    account: str = Field(description="exchange sub-account name; one live writer per account")
    env_file: Path = Field(description="git-ignored env file with this sub-account's API key")
    budget_usdt: Decimal = Field(gt=0, le=1_000_000)
    pairs: tuple[str, ...] = Field(min_length=1, max_length=50)
    timeframe: Literal[KUCOIN_TIMEFRAMES] = "1h"  # type: ignore[valid-type]
    max_open_trades: int = Field(default=2, ge=1, le=50)
    api_port: int = Field(ge=1024, le=65535, description="FreqUI/REST port on 127.0.0.1")
    dry_run: bool = True
    strategy: str = "ContextGatedStrategy"
    daily_loss_limit_pct: Decimal = Field(default=Decimal("5"), gt=0, le=100)
    llm_daily_usd: Decimal | None = Field(
        default=None, ge=0, description="this bot's daily LLM cap; unset = llm_caps.bot_daily_usd"
    )
    resources: Resources = Resources(cpus=1.0, memory="1g")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return validate_bot_id(value)

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        if not ACCOUNT_RE.fullmatch(value):
            raise ValueError(
                f"account {value!r}: use the sub-account name (letters, digits, '-', '_', '.')"
            )
        return value

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pair in value:
            if not PAIR_RE.fullmatch(pair):
                raise ValueError(f"pair {pair!r} must look like BTC/USDT")
        if len(set(value)) != len(value):
            raise ValueError("pairs contain duplicates")
        return value

    @model_validator(mode="after")
    def _quote(self) -> BotSpec:
        wrong = [p for p in self.pairs if not p.endswith("/USDT")]
        if wrong:
            raise ValueError(f"bot {self.id}: pairs must be quoted in USDT (the budget): {wrong}")
        return self

    @property
    def service(self) -> str:
        """Compose service name (also the host name on the fleet network)."""
        return f"bot-{self.id}"

    @property
    def daily_loss_limit_usdt(self) -> Decimal:
        return self.budget_usdt * self.daily_loss_limit_pct / 100


class SidecarSpec(BaseModel):
    """The context service container (also serves the dashboard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_file: Path = Path("docker/env/sidecar.env")
    dashboard_port: int = Field(default=8787, ge=1024, le=65535)
    egress: bool = Field(
        default=True,
        description="outbound internet for LLM and webhook calls; off = internal network only",
    )
    resources: Resources = Resources(cpus=1.0, memory="512m")
    replicas: int = Field(
        default=1, ge=1, le=20, description="sidecar pods on Kubernetes (they share Redis)"
    )


class RedisSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = "redis:7.4-alpine"
    resources: Resources = Resources(cpus=0.5, memory="256m")
    url: str | None = Field(
        default=None,
        description="Kubernetes: an external Redis (redis://, redis+sentinel://, "
        "redis+cluster://) instead of the rendered one",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from context_service.memory.redis_urls import is_ha_url, parse_ha_url

        if is_ha_url(value):
            parse_ha_url(value)  # InvalidRedisUrl (a ValueError) names the problem
        elif not value.startswith(("redis://", "rediss://")) or any(c.isspace() for c in value):
            raise ValueError("redis.url must be a redis://, rediss://, Sentinel or Cluster URL")
        return value


class LlmCaps(BaseModel):
    """Hard LLM spend caps enforced by the sidecar (USD); unset = the sidecar's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_daily_usd: Decimal | None = Field(default=None, ge=0)
    global_daily_usd: Decimal | None = Field(default=None, ge=0)
    monthly_usd: Decimal | None = Field(default=None, ge=0)


class Fleet(BaseModel):
    """The whole fleet file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    project: str = Field(default="ctx-fleet", pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    shared_env_file: Path = Field(
        default=Path("docker/env/fleet.env"),
        description="secrets shared by sidecar and bots: sidecar token, FreqUI login",
    )
    base_config: Path = Path("user_data/config.kucoin.example.json")
    sidecar: SidecarSpec = SidecarSpec()
    redis: RedisSpec = RedisSpec()
    llm_caps: LlmCaps = LlmCaps()
    bots: tuple[BotSpec, ...] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _unique(self) -> Fleet:
        _no_duplicates("bot id", [b.id for b in self.bots])
        _no_duplicates("account", [b.account for b in self.bots])
        _no_duplicates("env_file", [str(b.env_file) for b in self.bots])
        _no_duplicates("port", [b.api_port for b in self.bots] + [self.sidecar.dashboard_port])
        return self

    def bot(self, bot_id: str) -> BotSpec:
        for bot in self.bots:
            if bot.id == bot_id:
                return bot
        known = ", ".join(b.id for b in self.bots)
        raise FleetFileError(f"no bot {bot_id!r} in the fleet file (known: {known})")


def _no_duplicates(what: str, values: list) -> None:
    seen: set = set()
    dupes = sorted({str(v) for v in values if v in seen or seen.add(v)})
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)} (each bot needs its own)")


def parse_fleet(data: object, source: str = "fleet file") -> Fleet:
    """Validate already-parsed YAML; errors name the field and the bot."""
    if not isinstance(data, dict):
        raise FleetFileError(f"{source}: expected a mapping with a 'bots' list at the top")
    try:
        return Fleet.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source} is not valid:"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  - {where}: {err['msg']}")
        raise FleetFileError("\n".join(lines)) from None


def load_fleet(path: Path) -> Fleet:
    """Read and validate ``bots.yaml``."""
    if not path.is_file():
        raise FleetFileError(
            f"fleet file {path} not found: copy bots.example.yaml to {path.name} and edit it"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FleetFileError(f"{path} is not valid YAML: {exc}") from None
    return parse_fleet(data, source=str(path))


def fleet_bots(path: Path | None) -> set[str]:
    """The bot ids of the fleet file at ``path`` (none without one, or when it is unreadable:
    logged, the sidecar then knows only the bots with tokens)."""
    if path is None:
        return set()
    try:
        return {bot.id for bot in load_fleet(path).bots}
    except FleetFileError as exc:
        log.error("fleet file unreadable, its bots are not known: %s", exc)
        return set()
