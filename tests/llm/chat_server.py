"""A loopback OpenAI-compatible chat server for tests (what vLLM, Ollama... answer)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from verdicts.support import completion, verdict_call


class _ChatHandler(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions like an OpenAI-compatible server (vLLM, Ollama...)."""

    seen: list[dict] = []
    delay_s = 0.0
    action = "hold"
    # When set, the server holds its answer until the test releases it (a hung server).
    hold: threading.Event | None = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        time.sleep(type(self).delay_s)
        hold = type(self).hold
        if hold is not None:
            hold.wait(timeout=60)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        payload = json.dumps(
            completion(
                [verdict_call(type(self).action, 0.66)], prompt_tokens=1234, completion_tokens=21
            )
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a deliberately slow handler must not hold up the teardown

    def handle_error(self, request, client_address) -> None:  # the client hung up on purpose
        pass


@pytest.fixture
def local_llm() -> Iterator[str]:
    _ChatHandler.seen = []
    _ChatHandler.delay_s = 0.0
    _ChatHandler.action = "hold"
    _ChatHandler.hold = None
    server = _QuietServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    if _ChatHandler.hold is not None:
        _ChatHandler.hold.set()  # let a held handler finish before the server stops
    server.shutdown()
    server.server_close()
