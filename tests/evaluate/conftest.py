"""Sidecar fixtures for the LLM spend tests (see tests/verdicts/support.py)."""

from verdicts.support import llm_mock, make_service

__all__ = ["llm_mock", "make_service"]
