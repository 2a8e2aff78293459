"""Freqtrade itself accepts each bot's layered config (base config + generated per-bot layer)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from context_service.fleet.compose import write_fleet
from context_service.fleet.envfiles import read_env_file
from context_service.fleet.model import load_fleet

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO / "user_data" / "config.kucoin.example.json"


def test_freqtrade_show_config_accepts_every_bot(project: Path) -> None:
    if not BASE_CONFIG.is_file():
        pytest.fail(f"{BASE_CONFIG} is missing (the bots' base config)")
    shutil.copy(BASE_CONFIG, project / "user_data" / "config.kucoin.example.json")
    fleet = load_fleet(project / "bots.yaml")
    rendered = write_fleet(fleet, project / "bots.yaml", project)
    # What the container gets from its env files (the shared one carries the API login).
    env = {**os.environ, **read_env_file(project / "docker/env/fleet.env")}
    for bot in fleet.bots:
        result = subprocess.run(
            [
                sys.executable, "-m", "freqtrade", "show-config",
                "--userdir", str(project / "user_data"),
                "--config", str(project / "user_data" / "config.kucoin.example.json"),
                "--config", str(rendered.bot_configs[bot.id]),
            ],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
        merged = json.loads(result.stdout[result.stdout.index("{") :])
        assert merged["bot_name"] == bot.id
        assert merged["exchange"]["pair_whitelist"] == list(bot.pairs)
        assert merged["context"]["bot_id"] == bot.id
        assert merged["context"]["account"] == bot.account
        assert merged["available_capital"] == float(bot.budget_usdt)
        assert merged["dry_run"] is True
        assert merged["api_server"]["password"] == "REDACTED"  # came from the env file
