"""Stored records that no longer pass validation: logged once, counted, and skipped.

An older version may have stored what the current models refuse (a NaN profit, an observed_at in
year 4000). Reads must keep working for the bot: such a record is skipped (or replaced by the
next write) and reported here, never allowed to turn every read into a 500. The counts are
exported as the ``ctx_unreadable_records`` metric.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter

log = logging.getLogger("context_service.memory")

_LOGGED_LIMIT = 10_000
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_logged: set[tuple[str, str, str]] = set()


def note(kind: str, bot_id: str, record: str, error: object) -> None:
    """Count an unreadable ``kind`` record of ``bot_id``; log it the first time it is seen."""
    key = (kind, bot_id, record[:200])
    with _lock:
        _counts[kind] += 1
        first = key not in _logged
        if first:
            if len(_logged) >= _LOGGED_LIMIT:
                _logged.clear()
            _logged.add(key)
    if first:
        log.warning(
            json.dumps(
                {
                    "event": "unreadable_record_skipped",
                    "kind": kind,
                    "bot_id": bot_id,
                    "record": record[:200],
                    "error": str(error)[:500],
                }
            )
        )


def counts() -> dict[str, int]:
    """Unreadable records met since the process started, by kind."""
    with _lock:
        return dict(_counts)
