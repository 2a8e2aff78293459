"""The dashboard's data: one JSON document combining bots, memory, LLM spend and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from context_service.dashboard.monitor import FleetMonitor
from context_service.fleet.botapi import BotStatus
from context_service.fleet.model import BotSpec
from context_service.service import ContextService

RECENT_VERDICTS = 5


def _verdicts(service: ContextService, bot_id: str) -> list[dict[str, Any]]:
    verdicts = service.recent_verdicts(bot_id, RECENT_VERDICTS)
    return [
        {
            "at": v.created_at.isoformat(),
            "pair": v.pair,
            "candidate": v.candidate,
            "action": str(v.action),
            "confidence": v.confidence,
            "source": str(v.source),
            "fallback_reason": v.fallback_reason,
            "cost_usd": v.cost_usd,
        }
        for v in verdicts
    ]


def _regimes(service: ContextService, bot: BotSpec, now: datetime) -> list[dict[str, Any]]:
    """The bot's current regime readings (market first), as its strategy pushed them into its
    context (``market-events`` evidence); expired readings are not shown."""
    store = service.components.memory.bot(bot.id, register=False).evidence
    found = []
    for name in ("market", *bot.pairs):
        obj = store.get(f"regime:{name}:{bot.timeframe}")
        if obj is None or (obj.valid_until is not None and obj.valid_until <= now):
            continue
        found.append(
            {
                "scope": obj.tags.get("scope", "pair"),
                "pair": obj.tags.get("pair"),
                "regime": obj.tags.get("regime"),
                "summary": obj.summary,
                "observed_at": obj.observed_at.isoformat() if obj.observed_at else None,
            }
        )
    return found


def _adjustments(service: ContextService, bot: BotSpec, now: datetime) -> list[dict[str, Any]]:
    """The LLM adjustments in force now (the sidecar's view: each bot checks them against its
    own limits again); empty when adjustments are off or unreadable."""
    if not service.settings.apply_adjustments:
        return []
    active = service.adjustments_in_force(bot.id, now) or []
    return [
        a.model_dump(mode="json", include={"parameter", "value", "pair", "expires_at", "reason"})
        for a in active
    ]


def _comparison(bot: BotSpec, status: BotStatus | None, stats: dict[str, Any]) -> dict[str, Any]:
    """Profit from the bot itself when it answers, else from our trade memory."""
    live = status is not None and status.reachable
    profit = status.profit_closed_abs if live else stats.get("net_pnl")
    winrate = status.winrate if live else stats.get("win_ratio")
    drawdown = status.max_drawdown_abs if live else stats.get("max_drawdown")
    llm_cost = float(stats.get("llm_cost") or 0.0)
    return {
        "bot_id": bot.id,
        "source": "freqtrade" if live else "memory",
        "profit_abs": profit,
        "profit_pct_of_budget": None if profit is None else profit / float(bot.budget_usdt) * 100,
        "winrate": winrate,
        "max_drawdown_abs": drawdown,
        "llm_cost_usd": llm_cost,
        "profit_net_of_llm": None if profit is None else profit - llm_cost,
    }


def _bot_view(
    bot: BotSpec,
    status: BotStatus | None,
    service: ContextService,
    now: datetime,
    alerts: list[dict[str, Any]],
    usage: dict[str, Any],
) -> dict[str, Any]:
    stats = service.stats(bot.id).model_dump(
        mode="json",
        include={"trades", "win_ratio", "net_pnl", "llm_cost", "net_after_llm", "max_drawdown"},
    )
    cap = service.bot_cap(bot.id, now)
    calls_today = usage["bots"].get(bot.id, {}).get("day", {}).get("calls", 0)
    return {
        "id": bot.id,
        "account": bot.account,
        "pairs": list(bot.pairs),
        "timeframe": bot.timeframe,
        "budget_usdt": float(bot.budget_usdt),
        "configured_dry_run": bot.dry_run,
        "api_port": bot.api_port,
        "status": status.model_dump(mode="json") if status else None,
        "llm": {
            "spent_today_usd": cap.get("spent_usd", 0.0),
            "reserved_usd": cap.get("reserved_usd", 0.0),
            "cap_today_usd": cap.get("cap_usd"),
            "calls_today": calls_today,
        },
        "stats": stats,
        "verdicts": _verdicts(service, bot.id),
        "regimes": _regimes(service, bot, now),
        "adjustments": _adjustments(service, bot, now),
        "alerts": [a for a in alerts if a.get("bot_id") == bot.id],
        "comparison": _comparison(bot, status, stats),
    }


def dashboard_state(service: ContextService, monitor: FleetMonitor | None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data."""
    now = service.clock()
    statuses = monitor.latest() if monitor is not None else {}
    bots = monitor.bots if monitor is not None else []
    alerts = service.active_alerts()
    usage = service.usage_report(now)  # every bot's usage and caps in one read
    views = [_bot_view(bot, statuses.get(bot.id), service, now, alerts, usage) for bot in bots]
    return {
        "generated_at": now.isoformat(),
        "fleet_configured": monitor is not None,
        "caps": usage["caps"],
        "alerts": alerts,
        "bots": views,
        "comparison": [view.pop("comparison") for view in views],
    }
