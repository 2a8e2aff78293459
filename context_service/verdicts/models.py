"""Verdict requests and verdicts, under their historical import path.

The models live in :mod:`context_service.contract` (below both the ``llm`` and the ``verdicts``
packages); this module re-exports them so ``from context_service.verdicts.models import ...``
keeps working.
"""

from context_service.contract import (
    PAIR_PATTERN,
    PROVIDER_NAME_PATTERN,
    Action,
    Decision,
    OpenPosition,
    TASnapshot,
    Verdict,
    VerdictRequest,
    VerdictSource,
    request_line,
)

__all__ = [
    "PAIR_PATTERN",
    "PROVIDER_NAME_PATTERN",
    "Action",
    "Decision",
    "OpenPosition",
    "TASnapshot",
    "Verdict",
    "VerdictRequest",
    "VerdictSource",
    "request_line",
]
