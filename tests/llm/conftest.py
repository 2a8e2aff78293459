"""Sidecar fixtures (see tests/verdicts/support.py)."""

from verdicts.support import llm_mock, make_service

from llm.chat_server import local_llm

__all__ = ["llm_mock", "local_llm", "make_service"]
