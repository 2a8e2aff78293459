"""An end-to-end verdict through a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from verdicts.support import completion, make_request, verdict_call


class _ChatHandler(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions like an OpenAI-compatible server (vLLM, Ollama...)."""

    seen: list[dict] = []
    # When set, the server holds its answer until the test releases it (a hung server).
    hold: threading.Event | None = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        hold = type(self).hold
        if hold is not None:
            hold.wait(timeout=60)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        payload = json.dumps(
            completion([verdict_call("hold", 0.66)], prompt_tokens=1234, completion_tokens=21)
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
    _ChatHandler.hold = None
    server = _QuietServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    if _ChatHandler.hold is not None:
        _ChatHandler.hold.set()  # let a held handler finish before the server stops
    server.shutdown()
    server.server_close()


def test_verdict_through_a_local_openai_compatible_server(make_service, local_llm: str) -> None:
    service = make_service(llm_base_url=local_llm, llm_api_key="sk-local-test")

    verdict = service.decide(make_request())
    again = service.decide(make_request())

    assert verdict.source == "llm" and verdict.action == "hold" and verdict.confidence == 0.66
    assert (verdict.prompt_tokens, verdict.completion_tokens) == (1234, 21)
    assert again.source == "replay" and again.verdict_id == verdict.verdict_id
    [request] = _ChatHandler.seen  # the replayed verdict made no second request
    assert request["auth"] == "Bearer sk-local-test"
    assert request["body"]["max_tokens"] == service.settings.llm_max_output_tokens
    assert request["body"]["messages"][1]["content"].count("<<<CONTEXT_DATA_END>>>") == 1


def test_a_slow_server_times_out_and_falls_back_in_time(make_service, local_llm: str) -> None:
    """The server never answers while the client waits: only the configured timeout can end
    the call (were it ignored, the call would wait for the server and come back from the LLM)."""
    _ChatHandler.hold = threading.Event()
    service = make_service(llm_base_url=local_llm, llm_timeout_s=0.3, llm_max_retries=0)

    verdict = service.decide(make_request())

    assert not _ChatHandler.hold.is_set()  # it was the timeout, the server never answered
    assert verdict.source == "rules" and verdict.fallback_reason == "replay:miss; llm:timeout"
    assert len(_ChatHandler.seen) == 1  # the request did reach the server
