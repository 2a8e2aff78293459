"""Structured logs: one JSON object per line, with route templates (not raw paths)."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from context_service.api import create_app
from context_service.api.logs import JsonFormatter


def test_json_formatter_merges_json_messages_and_wraps_plain_ones() -> None:
    formatter = JsonFormatter()
    structured = logging.LogRecord(
        "x", logging.INFO, __file__, 1, '{"event": "e", "n": 2}', None, None
    )
    plain = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    a, b = json.loads(formatter.format(structured)), json.loads(formatter.format(plain))
    assert (a["event"], a["n"], a["level"]) == ("e", 2, "info")
    assert (b["message"], b["level"]) == ("hello you", "warning") and "ts" in b


def test_access_log_and_metrics_use_route_templates(make_service, caplog) -> None:
    with (
        TestClient(
            create_app(service=make_service(llm=False)), base_url="http://127.0.0.1"
        ) as client,
        caplog.at_level(logging.INFO, logger="context_service.access"),
    ):
        client.get("/v1/bots/bot-7/verdicts")
        client.get("/nowhere")
        metrics = client.get("/metrics").text
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    assert lines[0] == {
        **lines[0],
        "event": "http_request",
        "method": "GET",
        "route": "/v1/bots/{bot_id}/verdicts",
        "status": 200,
    }
    assert lines[1]["route"] == "unmatched" and lines[1]["status"] == 404
    assert 'route="/v1/bots/{bot_id}/verdicts"' in metrics and "bot-7" not in metrics
