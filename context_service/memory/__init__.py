"""The Redis memory layer: per-bot evidence, trade memory, statistics, insights, audit trail.

Quick start::

    from context_service.memory import Memory, connect
    from context_service.settings import get_settings

    settings = get_settings()
    mem = Memory(connect(settings), settings=settings)
    bot = mem.bot("bot-1")
    bot.record_trade_event(event)          # idempotent
    print(bot.stats().model_dump(mode="json"))

See docs/memory.md for the key layout, retention and the journal.
"""

from __future__ import annotations

from .audit import AuditTrail
from .connection import connect
from .evidence import RedisKnowledgeStore
from .insights import InsightRules, detect_insights
from .journal import JournaledTradeWriter
from .lanes import lane_of
from .memory import BotMemory, Memory
from .models import AuditEntry, ClosedTrade, GroupStats, TradeEvent, TradeStats
from .stats import compute_stats, confidence_bucket

__all__ = [
    "AuditEntry",
    "AuditTrail",
    "BotMemory",
    "ClosedTrade",
    "GroupStats",
    "InsightRules",
    "JournaledTradeWriter",
    "Memory",
    "RedisKnowledgeStore",
    "TradeEvent",
    "TradeStats",
    "compute_stats",
    "confidence_bucket",
    "connect",
    "detect_insights",
    "lane_of",
]
