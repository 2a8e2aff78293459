"""A throw-away project root with a two-bot fleet file and filled-in env files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from verdicts.support import llm_mock, make_service

from deploy.fleet_helpers import write_env

__all__ = ["llm_mock", "make_service"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Project root with bots.yaml (copied from bots.example.yaml) and valid env files."""
    root = tmp_path / "project"
    (root / "docker" / "env").mkdir(parents=True)
    (root / "user_data").mkdir()
    shutil.copy(REPO / "bots.example.yaml", root / "bots.yaml")
    (root / "user_data" / "config.kucoin.example.json").write_text("{}", encoding="utf-8")
    write_env(
        root / "docker/env/fleet.env",
        FREQTRADE__API_SERVER__USERNAME="operator",
        FREQTRADE__API_SERVER__PASSWORD="pw-" + "b" * 20,
        FREQTRADE__API_SERVER__JWT_SECRET_KEY="jwt-" + "c" * 40,
    )
    write_env(
        root / "docker/env/sidecar.env",
        CTX_LLM_ENABLED="false",
        CTX_API_TOKEN="Xq7-Lm2pZ9rT4vWb8sKd1fGh6jNc3yEu",
    )
    for bot in ("btc-trend", "alt-swing"):
        write_env(
            root / f"docker/env/{bot}.env",
            FREQTRADE__EXCHANGE__KEY="",
            FREQTRADE__EXCHANGE__SECRET="",
            FREQTRADE__EXCHANGE__PASSWORD="",
        )
    return root
