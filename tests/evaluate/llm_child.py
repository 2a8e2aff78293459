"""``backtest`` / ``evaluate`` with the LLM provider against a respx-mocked OpenAI endpoint.

Each run goes in a forked child process: Freqtrade sets up logging and class-level state a test
session should not inherit, and the command runs exactly as ``python -m context_service`` runs
it (its own stdin is not a terminal). respx mocks the endpoint inside the child and counts every
HTTP request; the answers are a pure function of the prompt, so two runs answer alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import traceback
from dataclasses import dataclass, field
from typing import Any

# Freqtrade, the OpenAI SDK and both commands are imported here, once, before any fork: each
# child then starts with them loaded (seconds each otherwise).
import freqtrade.optimize.backtesting  # noqa: F401
import httpx
import openai  # noqa: F401
import respx

import context_service.backtest.run
import context_service.evaluate.cli
import context_service.evaluate.session  # noqa: F401

LLM_URL = "http://llm.test/v1"
CHAT_URL = f"{LLM_URL}/chat/completions"


@dataclass
class ChildRun:
    """What one command did: exit code, HTTP calls by masking mode, its output."""

    code: int
    calls: int
    masked_calls: int
    out: str
    err: str
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unmasked_calls(self) -> int:
        return self.calls - self.masked_calls


def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body["messages"])


def verdict_answer(body: dict[str, Any], garbage_masked: bool = False) -> httpx.Response:
    """A verdict decided by a hash of the prompt (sell or hold for exits, buy or hold for
    entries); with ``garbage_masked``, masked prompts get an unusable answer."""
    prompt = _prompt(body)
    masked = "ASSET_A" in prompt
    if garbage_masked and masked:
        call = {"name": "submit_verdict", "arguments": "{not json \x00 at all"}
    else:
        digest = hashlib.sha256(prompt.encode()).digest()
        exit_ = "Candidate: EXIT" in prompt
        action = ("sell" if exit_ else "buy") if digest[0] % 3 else "hold"
        arguments = {
            "action": action,
            "confidence": round(0.6 + (digest[1] % 40) / 100, 2),
            "rationale": "momentum and trend",
            "evidence_ids": [],
        }
        call = {"name": "submit_verdict", "arguments": json.dumps(arguments)}
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": call}],
    }
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model", "gpt-4.1-mini"),
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940},
        },
    )


def _child(conn: Any, command: str, argv: list[str], env: dict[str, str], garbage: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    bodies: list[dict[str, Any]] = []
    code = -1
    try:
        os.environ.update(env)
        for name in ("CTX_BACKTEST_MAX_USD", "CTX_LLM_MASKING"):
            if name not in env:
                os.environ.pop(name, None)
        from context_service.settings import get_settings

        get_settings.cache_clear()
        if command == "backtest":
            from context_service.backtest.run import main
        else:
            from context_service.evaluate.cli import main

        def answer(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            bodies.append(body)
            return verdict_answer(body, garbage)

        with (
            respx.mock(assert_all_called=False) as router,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            router.post(CHAT_URL).mock(side_effect=answer)
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's errors
                code = int(exc.code or 0)
    except BaseException:
        err.write(traceback.format_exc())
    masked = sum(1 for b in bodies if "ASSET_A" in _prompt(b))
    conn.send(ChildRun(code, len(bodies), masked, out.getvalue(), err.getvalue(), bodies))
    conn.close()


def run_child(
    command: str, argv: list[str], env: dict[str, str], *, garbage_masked: bool = False
) -> ChildRun:
    """Run ``python -m context_service <command> <argv>`` in a forked child (see above)."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, command, argv, env, garbage_masked))
    process.start()
    child.close()
    try:
        if not parent.poll(180):
            raise TimeoutError(f"{command} did not finish in 180 s")
        return parent.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()


def llm_env(redis_url: str, data: Any, snapshot: Any, **extra: str) -> dict[str, str]:
    """The environment of a run with the LLM on (the mocked endpoint) and the test Redis."""
    return {
        "CTX_REDIS_URL": redis_url,
        "CTX_DATA_DIR": str(data),
        "CTX_MARKETS_SNAPSHOT": str(snapshot),
        "CTX_LLM_ENABLED": "true",
        "CTX_LLM_API_KEY": "sk-test",
        "CTX_LLM_BASE_URL": LLM_URL,
        "CTX_LLM_MODEL": "gpt-4.1-mini",
        **extra,
    }
