"""An end-to-end verdict through a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import threading

from verdicts.support import make_request

from llm.chat_server import _ChatHandler


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
    assert request["body"]["messages"][-1]["content"].count("<<<CONTEXT_DATA_END>>>") == 1


def test_a_slow_server_times_out_and_falls_back_in_time(make_service, local_llm: str) -> None:
    """The server never answers while the client waits: only the configured timeout can end
    the call (were it ignored, the call would wait for the server and come back from the LLM)."""
    _ChatHandler.hold = threading.Event()
    service = make_service(llm_base_url=local_llm, llm_timeout_s=0.3, llm_max_retries=0)

    verdict = service.decide(make_request())

    assert not _ChatHandler.hold.is_set()  # it was the timeout, the server never answered
    assert verdict.source == "rules" and verdict.fallback_reason == "replay:miss; llm:timeout"
    assert len(_ChatHandler.seen) == 1  # the request did reach the server
