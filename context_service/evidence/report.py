"""The feeds' status as the API and the CLI show it: one read of the status hash plus the
configuration (what is enabled, what is registered, what waits for a key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from context_service.evidence.config import FeedSettings
from context_service.evidence.poller import KEYED, enabled_sources
from context_service.evidence.source import registered_sources
from context_service.evidence.status import StatusStore
from context_service.models import utcnow


def feeds_report(
    status: StatusStore, settings: FeedSettings, now: datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    enabled = enabled_sources(settings)
    states = status.load()
    return {
        "now": now.isoformat(),
        "polling": settings.poll,
        "enabled": enabled,
        "sources": [states[name].view(now) for name in sorted(states)],
        "registered": [
            {
                "name": cls.name,
                "summary": cls.summary,
                "needs": cls.needs,
                "enabled": cls.name in enabled,
                "waiting_for_key": cls.name in KEYED and cls.name not in enabled,
            }
            for cls in registered_sources()
        ],
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"feeds at {report['now']} (polling {'on' if report['polling'] else 'off'})"]
    lines.append("enabled: " + (", ".join(report["enabled"]) or "none"))
    waiting = [r["name"] for r in report["registered"] if r["waiting_for_key"]]
    if waiting:
        lines.append("off until their key is set: " + ", ".join(waiting))
    if not report["sources"]:
        lines.append("no poll recorded yet (is the sidecar running with CTX_FEEDS_POLL on?)")
        return "\n".join(lines)
    header = f"{'source':<22} {'last success':<20} {'lag':>8} {'seen':>7} {'stored':>7} "
    header += f"{'dups':>5} {'breaker':<7} last error"
    lines += ["", header]
    for s in report["sources"]:
        success = (s["last_success"] or "never")[:19]
        lag = "-" if s["lag_s"] is None else _duration(s["lag_s"])
        error = ""
        if s["last_error"]:
            error = f"{s['last_error'][:60]} ({(s['last_error_at'] or '')[:19]})"
        lines.append(
            f"{s['name']:<22} {success:<20} {lag:>8} {s['items_seen']:>7} "
            f"{s['items_stored']:>7} {s['duplicates']:>5} {s['breaker']:<7} {error}"
        )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
