"""``serve`` refuses an open API on a non-loopback address."""

from __future__ import annotations

import json
import logging

import pytest
from verdicts.support import make_settings

from context_service.api import logs, serve
from context_service.settings import get_settings

STRONG = "kQ3v9-Zp1xT_8mWf2LrB6yHc0dNs4uJe"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_without_token_is_allowed(host: str) -> None:
    assert serve.check_bind(make_settings(api_token=None), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_open_api_on_a_public_address_is_refused(host: str) -> None:
    problem = serve.check_bind(make_settings(api_token=None), host)
    assert problem is not None and "CTX_API_TOKEN" in problem
    assert serve.check_bind(make_settings(api_token=STRONG), host) is None


@pytest.mark.parametrize(
    "token", ["abc", "a" * 64, "change-me-change-me", "abababababababababababab"]
)
def test_weak_tokens_are_refused(token: str) -> None:
    problem = serve.check_bind(make_settings(api_token=token), "0.0.0.0")
    assert problem is not None and "too weak" in problem


def test_main_exits_before_binding(monkeypatch, caplog) -> None:
    monkeypatch.delenv("CTX_API_TOKEN", raising=False)
    # keep pytest's log capture: the real configure_logging replaces the root handlers
    monkeypatch.setattr(logs, "configure_logging", lambda level: None)
    get_settings.cache_clear()
    with caplog.at_level(logging.ERROR, logger="context_service.serve"):
        code = serve.main(["--host", "0.0.0.0", "--port", "18787"])
    get_settings.cache_clear()
    assert code == 2
    [record] = caplog.records
    assert json.loads(record.getMessage())["event"] == "refused_to_start"
