"""Everything ``fleet up`` verifies before it starts anything, with messages that say what to do.

The checks look at the env files (existence and which keys are set, never printing values) and
at the live-trading opt-in. Problems are collected, not raised one by one, so the operator sees
the whole list at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from context_service.credentials import token_weakness
from context_service.fleet.envfiles import EnvFileError, is_set, read_env_file
from context_service.fleet.model import BotSpec, Fleet
from context_service.fleet.tokens import BOT_TOKEN_VAR

BOT_TEMPLATE = "docker/env/bot.env.example"
SHARED_TEMPLATE = "docker/env/fleet.env.example"
SIDECAR_TEMPLATE = "docker/env/sidecar.env.example"
MIN_JWT_SECRET_CHARS = 32  # Freqtrade's config schema (api_server.jwt_secret_key minLength)
LIVE_OPT_IN_VAR = "CTX_LIVE_TRADING"
LIVE_OPT_IN_VALUE = "I_UNDERSTAND"
EXCHANGE_KEY_VARS = (
    "FREQTRADE__EXCHANGE__KEY",
    "FREQTRADE__EXCHANGE__SECRET",
    "FREQTRADE__EXCHANGE__PASSWORD",
)
SHARED_REQUIRED = (
    "FREQTRADE__API_SERVER__USERNAME",
    "FREQTRADE__API_SERVER__PASSWORD",
    "FREQTRADE__API_SERVER__JWT_SECRET_KEY",
)


@dataclass(frozen=True)
class Problem:
    """One thing that blocks (``error``) or deserves attention (``warning``)."""

    level: str  # "error" | "warning"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper():7} {self.where}: {self.message}"


def _env(
    root: Path, path: Path, template: str, where: str, problems: list[Problem]
) -> dict[str, str] | None:
    full = root / path  # an absolute path stays as it is
    if not full.is_file():
        problems.append(
            Problem("error", where, f"env file {path} is missing: copy {template} there, fill it")
        )
        return None
    try:
        return read_env_file(full)
    except EnvFileError as exc:
        problems.append(Problem("error", where, str(exc)))
        return None


def _check_bot(root: Path, bot: BotSpec, problems: list[Problem]) -> None:
    where = f"bot {bot.id}"
    values = _env(root, bot.env_file, BOT_TEMPLATE, where, problems)
    if values is None:
        return
    if is_set(values, BOT_TOKEN_VAR):
        weakness = token_weakness(values[BOT_TOKEN_VAR])
        if weakness:
            problems.append(
                Problem(
                    "error", where, f"{BOT_TOKEN_VAR} in {bot.env_file} is too weak: {weakness}"
                )
            )
    missing = [k for k in EXCHANGE_KEY_VARS if not is_set(values, k)]
    opted_in = values.get(LIVE_OPT_IN_VAR, "") == LIVE_OPT_IN_VALUE
    if bot.dry_run:
        if opted_in:
            problems.append(
                Problem("warning", where, f"{LIVE_OPT_IN_VAR} is set but dry_run is true")
            )
        return
    if not opted_in:
        problems.append(
            Problem(
                "error",
                where,
                f"dry_run is false but {bot.env_file} lacks {LIVE_OPT_IN_VAR}={LIVE_OPT_IN_VALUE}"
                " (the explicit opt-in to trade real money); set it or keep dry_run: true",
            )
        )
    if missing:
        problems.append(
            Problem(
                "error",
                where,
                f"live trading needs the sub-account's trade-only key: {', '.join(missing)}"
                f" not set in {bot.env_file}",
            )
        )


def _short_secrets(shared: dict[str, str], path: Path) -> list[Problem]:
    """Secrets the sidecar or Freqtrade would reject at start-up for being too short."""
    minimums = (("FREQTRADE__API_SERVER__JWT_SECRET_KEY", MIN_JWT_SECRET_CHARS, "Freqtrade"),)
    return [
        Problem("error", "shared", f"{key} in {path} is too short: {who} needs {n}+ characters")
        for key, n, who in minimums
        if len(shared[key]) < n
    ]


def _operator_token(sidecar: dict[str, str], path: Path) -> list[Problem]:
    if not is_set(sidecar, "CTX_API_TOKEN"):
        return [
            Problem("error", "sidecar", f"CTX_API_TOKEN (the operator token) not set in {path}")
        ]
    weakness = token_weakness(sidecar["CTX_API_TOKEN"])
    if weakness:
        return [Problem("error", "sidecar", f"CTX_API_TOKEN in {path} is too weak: {weakness}")]
    return []


def check_fleet(fleet: Fleet, root: Path) -> list[Problem]:
    """All problems of a (syntactically valid) fleet; an empty list means ready to start."""
    problems: list[Problem] = []
    shared = _env(root, fleet.shared_env_file, SHARED_TEMPLATE, "shared", problems)
    if shared is not None:
        unset = [k for k in SHARED_REQUIRED if not shared.get(k, "").strip()]
        template = [k for k in SHARED_REQUIRED if k not in unset and not is_set(shared, k)]
        if unset:
            problems.append(
                Problem("error", "shared", f"{', '.join(unset)} not set in {fleet.shared_env_file}")
            )
        if template:
            problems.append(
                Problem(
                    "error",
                    "shared",
                    f"{', '.join(template)} in {fleet.shared_env_file} still hold a template "
                    "placeholder: replace them with real values",
                )
            )
        if not unset and not template:
            problems += _short_secrets(shared, fleet.shared_env_file)
        if is_set(shared, "CTX_API_TOKEN"):
            problems.append(
                Problem(
                    "error",
                    "shared",
                    f"CTX_API_TOKEN in {fleet.shared_env_file} would give every bot the operator "
                    f"token: move it to {fleet.sidecar.env_file} (bots get their own tokens)",
                )
            )
    sidecar = _env(root, fleet.sidecar.env_file, SIDECAR_TEMPLATE, "sidecar", problems)
    if sidecar is not None:
        problems += _operator_token(sidecar, fleet.sidecar.env_file)
    if sidecar is not None and is_set(sidecar, "CTX_LLM_API_KEY") and not fleet.sidecar.egress:
        problems.append(
            Problem("warning", "sidecar", "an LLM key is set but egress is off: LLM calls fail")
        )
    base = root / fleet.base_config
    if not base.is_file():
        problems.append(
            Problem("error", "fleet", f"base Freqtrade config {fleet.base_config} not found")
        )
    for bot in fleet.bots:
        _check_bot(root, bot, problems)
    return problems


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]
