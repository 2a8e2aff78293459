"""How the strategy reaches the context engine.

Two transports with one interface (:class:`ContextClient`): :class:`HttpContextClient` talks to
the sidecar in dry-run/live with short timeouts; :class:`InProcessContextClient` calls the
engine directly in backtests and hyperopt (DESIGN.md, decision 6). Any failure of either is a
:class:`ContextUnavailable`, which the strategy turns into "no entry" (fail closed).
"""

from context_service.client.base import ContextClient, ContextUnavailable, LeaseStatus
from context_service.client.http import HttpContextClient
from context_service.client.inprocess import InProcessContextClient

__all__ = [
    "ContextClient",
    "ContextUnavailable",
    "HttpContextClient",
    "InProcessContextClient",
    "LeaseStatus",
]
