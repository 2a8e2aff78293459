"""One fail-closed wrapper for the strategy's Freqtrade callbacks.

Freqtrade calls strategy callbacks through its own ``strategy_safe_wrapper``, which logs an
exception and returns a *default* chosen by Freqtrade: for ``confirm_trade_entry`` that default
is True, an entry. This wrapper sits inside it and decides the answer on failure itself: the
callback's safe value (no entry, no stake, no verdict exit, the fixed stop-loss, no memory
write), a log line with the traceback, and, for entry callbacks, a refusal counted as
``error``. So a bug or a dead sidecar can cost an entry, never cause one.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from context_service.risk.refusals import Refusal

logger = logging.getLogger("context_service.strategy")

F = TypeVar("F", bound=Callable[..., Any])


def fail_closed(
    default: Any, *, meaning: str, refusal: Refusal | None = None, level: int = logging.WARNING
) -> Callable[[F], F]:
    """Decorate a strategy method: on any exception log it (``meaning`` says what the default
    means, e.g. "refusing entry"), count ``refusal`` on the strategy's gating stats, and return
    ``default``."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def safe(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                logger.log(level, "%s failed, %s: %s", method.__name__, meaning, exc, exc_info=True)
                ctx = getattr(self, "ctx", None)
                if refusal is not None and ctx is not None:
                    ctx.stats.refuse(refusal)
                return default

        # Freqtrade reads callback parameters with getfullargspec (e.g. custom_stoploss's
        # after_fill), which does not follow __wrapped__: show it the method's own signature.
        safe.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
        return safe  # type: ignore[return-value]

    return wrap
