"""``make run``: the sidecar (embedded Redis) and one Freqtrade dry-run as local processes.

For people without Docker. Dry-run still needs live market data, so the first thing checked is
that KuCoin answers; without it the command stops with a message instead of a half-started bot.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from context_service.credentials import token_hash
from context_service.fleet.compose import bot_config, frequi_origins
from context_service.fleet.model import BotSpec, FleetFileError, load_fleet

KUCOIN_PROBE_URL = "https://api.kucoin.com/api/v1/timestamp"
LOCAL_SIDECAR_PORT = 8787
DEFAULT_BOT = {
    "id": "local",
    "account": "local-dry-run",
    "env_file": "docker/env/local.env",
    "budget_usdt": 50,
    "pairs": ["BTC/USDT", "SOL/USDT"],
    "timeframe": "1h",
    "api_port": 8080,
}
EXIT_NO_NETWORK = 3

Launcher = Callable[..., subprocess.Popen]


class KucoinUnreachable(RuntimeError):
    """KuCoin's public API cannot be reached from this machine."""


def probe_kucoin(timeout_s: float = 5.0) -> None:
    """Raise :class:`KucoinUnreachable` with the reason when KuCoin does not answer."""
    try:
        response = httpx.get(KUCOIN_PROBE_URL, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise KucoinUnreachable(f"{type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise KucoinUnreachable(f"HTTP {response.status_code} from {KUCOIN_PROBE_URL}")


def _pick_bot(root: Path, fleet_file: Path, bot_id: str | None) -> BotSpec:
    path = root / fleet_file
    if path.is_file():
        fleet = load_fleet(path)
        return fleet.bot(bot_id) if bot_id else fleet.bots[0]
    if bot_id:
        raise FleetFileError(f"--bot {bot_id} given but there is no fleet file {path}")
    return BotSpec.model_validate(DEFAULT_BOT)


def _wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def local_commands(root: Path, bot: BotSpec, base_config: Path) -> dict[str, list[str]]:
    """The two command lines ``run-local`` starts (the bot is always a dry-run)."""
    state = root / "user_data" / "fleet-local"
    return {
        "sidecar": [sys.executable, "-m", "context_service", "serve"],
        "bot": [
            sys.executable, "-m", "freqtrade", "trade", "--dry-run",
            "--userdir", str(root / "user_data"),
            "--config", str(base_config),
            "--config", str(state / f"{bot.id}.config.json"),
            "--strategy", bot.strategy,
            "--logfile", str(root / "user_data" / "logs" / bot.id / "freqtrade.log"),
            "--db-url", f"sqlite:///{root / 'user_data' / 'db' / bot.id / 'tradesv3.sqlite'}",
        ],
    }  # fmt: skip


def _prepare(root: Path, bot: BotSpec, fleet_path: Path | None) -> dict[str, str]:
    """Write the bot config, create folders, and build the shared environment (no secrets)."""
    state = root / "user_data" / "fleet-local"
    state.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "db"):
        (root / "user_data" / sub / bot.id).mkdir(parents=True, exist_ok=True)
    config = bot_config(bot, frequi_origins([bot]))
    config["dry_run"] = True
    config["api_server"]["listen_ip_address"] = "127.0.0.1"
    config["api_server"]["listen_port"] = bot.api_port
    (state / f"{bot.id}.config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    env = dict(os.environ)
    # Per-run random credentials unless the operator set their own; never written to disk.
    env.setdefault("CTX_API_TOKEN", secrets.token_urlsafe(32))
    # The bot's own token for this run; the sidecar gets only its hash.
    bot_token = env.get("CTX_BOT_TOKEN") or secrets.token_urlsafe(32)
    env["CTX_BOT_TOKEN"] = bot_token
    env["CTX_BOT_TOKEN_HASHES"] = json.dumps({bot.id: token_hash(bot_token)})
    env.setdefault("FREQTRADE__API_SERVER__USERNAME", "operator")
    env.setdefault("FREQTRADE__API_SERVER__PASSWORD", secrets.token_urlsafe(16))
    env.setdefault("FREQTRADE__API_SERVER__JWT_SECRET_KEY", secrets.token_urlsafe(32))
    env.pop("CTX_REDIS_URL", None)  # embedded Redis under user_data/redis
    env.pop("CTX_LIVE_TRADING", None)
    env.update(
        CTX_HOST="127.0.0.1",
        CTX_PORT=str(LOCAL_SIDECAR_PORT),
        CTX_BOT_ID=bot.id,
        CTX_SIDECAR_URL=f"http://127.0.0.1:{LOCAL_SIDECAR_PORT}",
        CTX_BOT_API_URL_TEMPLATE="http://127.0.0.1:{port}",
    )
    if fleet_path is not None and fleet_path.is_file():
        env["CTX_FLEET_FILE"] = str(fleet_path)  # the dashboard shows the local bot
    else:
        env.pop("CTX_FLEET_FILE", None)
    return env


def run_local(
    root: Path,
    fleet_file: Path,
    bot_id: str | None = None,
    *,
    probe: Callable[[], None] = probe_kucoin,
    launch: Launcher = subprocess.Popen,
) -> int:
    """Start sidecar + dry-run bot and wait; Ctrl-C stops both. Returns the exit status."""
    try:
        bot = _pick_bot(root, fleet_file, bot_id)
    except FleetFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base_config = root / "user_data" / "config.kucoin.example.json"
    if not base_config.is_file():
        print(f"error: base Freqtrade config {base_config} not found", file=sys.stderr)
        return 2
    try:
        probe()
    except KucoinUnreachable as exc:
        print(
            "error: KuCoin's API (api.kucoin.com) cannot be reached from this machine "
            f"({exc}).\n`make run` needs network access to KuCoin: the dry-run trades on live "
            "prices. Check the internet connection, proxy or firewall and try again; to work "
            "offline, use `make backtest` instead.",
            file=sys.stderr,
        )
        return EXIT_NO_NETWORK
    env = _prepare(root, bot, root / fleet_file)
    commands = local_commands(root, bot, base_config)
    sidecar = launch(commands["sidecar"], cwd=root, env=env)
    processes = [sidecar]
    try:
        health = f"http://127.0.0.1:{LOCAL_SIDECAR_PORT}/healthz"
        if not _wait_healthy(health, sidecar):
            print("error: the sidecar did not become healthy (see its output)", file=sys.stderr)
            return 1
        processes.append(launch(commands["bot"], cwd=root, env=env))
        print(
            f"running bot {bot.id} (dry-run): FreqUI http://127.0.0.1:{bot.api_port} "
            f"(login: FREQTRADE__API_SERVER__USERNAME/_PASSWORD, random for this run when "
            "unset), dashboard "
            f"http://127.0.0.1:{LOCAL_SIDECAR_PORT}/dashboard. Ctrl-C stops both."
        )
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        return next(p.returncode for p in processes if p.poll() is not None) or 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
