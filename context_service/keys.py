"""Every Redis key of the project is built here, and only here.

All keys of one bot carry the hash tag ``{bot_id}`` (``ctx:{bot-1}:trades``) so they share one
Redis Cluster slot and a bot's Lua scripts stay cluster-safe. The cost ledger spans bots (a
global cap), so all ledger keys share the separate tag ``{ctx-ledger}``: the reserve-then-settle
script touches one slot. Market-wide evidence (stored once, read by every bot's synthesis) has
the tag ``{ctx-market}``: its MULTI/EXEC writes touch one slot. Bot ids are validated before
any key is built, so nothing can address another bot's keys by smuggling ``}`` or ``:`` into an
id, and the shared tags' names are reserved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Always matched with fullmatch: "$" would also match before a final newline ("bot-a\n").
BOT_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
PREFIX_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# A trade id given as text (Freqtrade's are integers): trade events and open positions.
TRADE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_PREFIX = "ctx"
LEDGER_TAG = "{ctx-ledger}"
MARKET_TAG = "{ctx-market}"


class InvalidBotId(ValueError):
    """A bot id that does not match ``[a-z0-9][a-z0-9-]{0,31}``."""


# The hash tags of the keys shared by all bots: a bot with one of these ids would share keys
# with them (``ctx:{ctx-market}:objects`` is the market store's hash).
RESERVED_BOT_IDS = frozenset({"ctx-ledger", "ctx-global", "ctx-lease", "ctx-market"})


def validate_bot_id(bot_id: str) -> str:
    if not isinstance(bot_id, str) or not BOT_ID_RE.fullmatch(bot_id):
        raise InvalidBotId(
            f"invalid bot id {bot_id!r}: use 1-32 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    if bot_id in RESERVED_BOT_IDS:
        raise InvalidBotId(f"bot id {bot_id!r} is reserved for keys shared by all bots")
    return bot_id


def validate_trade_id(value: int | str) -> int | str:
    """A Freqtrade trade id: an integer in 0..2**63-1, or 1-64 characters of A-Z, a-z, 0-9,
    '.', '_', '-' starting with a letter or digit (it becomes part of keys and prompts)."""
    if isinstance(value, int):
        if not 0 <= value < 2**63:
            raise ValueError("trade_id must be between 0 and 2**63 - 1")
        return value
    if not TRADE_ID_RE.fullmatch(value):
        raise ValueError("trade_id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'")
    return value


def _part(value: str) -> str:
    if not value or any(c in value for c in "{}\n\r "):
        raise ValueError(f"invalid key part {value!r}")
    return value


class EvidenceKeys:
    """The keys of one evidence store (a bot's own, or the market-wide one); subclasses
    provide ``key(*parts)``."""

    __slots__ = ()

    def key(self, *parts: str) -> str:
        raise NotImplementedError

    @property
    def objects(self) -> str:  # hash: object id -> JSON
        return self.key("objects")

    @property
    def objects_by_observed(self) -> str:  # zset: object id -> observed_at epoch
        return self.key("objects", "observed")

    @property
    def objects_by_expiry(self) -> str:  # zset: object id -> expiry epoch
        return self.key("objects", "expiry")

    @property
    def objects_undated(self) -> str:  # set: ids without observed_at
        return self.key("objects", "undated")

    @property
    def objects_version(self) -> str:  # counter: bumped by every evidence write (read caches)
        return self.key("objects", "version")


@dataclass(frozen=True, slots=True)
class MarketKeys(EvidenceKeys):
    """The market-wide evidence store's keys. Build with :meth:`Keyspace.market`."""

    prefix: str

    def key(self, *parts: str) -> str:
        return f"{self.prefix}:{MARKET_TAG}:" + ":".join(_part(p) for p in parts)

    @property
    def pattern(self) -> str:
        """SCAN pattern matching every market evidence key."""
        return f"{self.prefix}:{MARKET_TAG}:*"


@dataclass(frozen=True, slots=True)
class BotKeys(EvidenceKeys):
    """The keys of one bot. Build with :meth:`Keyspace.bot`."""

    prefix: str
    bot_id: str

    def key(self, *parts: str) -> str:
        tail = ":".join(_part(p) for p in parts)
        return f"{self.prefix}:{{{self.bot_id}}}:{tail}"

    @property
    def pattern(self) -> str:
        """SCAN pattern matching every key of this bot (for tests and wipes)."""
        return f"{self.prefix}:{{{self.bot_id}}}:*"

    # trade memory
    @property
    def trade_events(self) -> str:  # hash: "trade_id:order_id:event" -> JSON
        return self.key("trades", "events")

    @property
    def trade_events_by_time(self) -> str:  # zset: event key -> event time epoch
        return self.key("trades", "events", "time")

    @property
    def closed_trades(self) -> str:  # hash: trade id -> JSON
        return self.key("trades", "closed")

    @property
    def closed_trades_by_time(self) -> str:  # zset: trade id -> close time epoch
        return self.key("trades", "closed", "time")

    @property
    def trade_entries(self) -> str:  # hash: trade id -> JSON of the entry fill's verdict fields
        return self.key("trades", "entries")

    @property
    def closed_rewrites(self) -> str:  # counter: closes that replaced an earlier close
        return self.key("trades", "closed", "rewrites")

    @property
    def llm_costs(self) -> str:  # hash: verdict id -> USD spent on the LLM for it
        return self.key("llm", "costs")

    @property
    def llm_costs_by_time(self) -> str:  # zset: verdict id -> epoch of the spend
        return self.key("llm", "costs", "time")

    @property
    def insights_state(self) -> str:  # hash: insight id -> JSON of when it became true
        return self.key("insights")

    @property
    def stats_snapshot(self) -> str:  # string: JSON of the latest stats
        return self.key("stats")

    # audit trail
    @property
    def audit(self) -> str:  # stream
        return self.key("audit")

    @property
    def audit_written(self) -> str:  # zset: audit stream id -> epoch it was written (1/min)
        return self.key("audit", "written")

    # verdicts
    @property
    def verdict_cache(self) -> str:  # hash: cache key -> verdict JSON
        return self.key("verdicts", "cache")

    @property
    def last_verdicts(self) -> str:  # list of recent verdict JSON (dashboard)
        return self.key("verdicts", "recent")

    def verdict_ask(self, candidate: str, candle_epoch: int, pair: str) -> str:
        # string with a TTL: the claim of the process working on an asynchronous ask, then
        # its verdict (verdicts/claims.py)
        return self.key("verdicts", "ask", candidate, str(candle_epoch), pair)

    @property
    def suggestions(self) -> str:  # list of LLM parameter suggestions (JSON), newest first
        return self.key("suggestions")

    @property
    def adjustments(self) -> str:  # zset: adjustment JSON -> epoch it was made (as_of)
        return self.key("adjustments", "made")

    # rate limiting and circuit breaker
    def rate_window(self, minute: int) -> str:
        return self.key("rate", str(minute))

    @property
    def breaker(self) -> str:  # hash: failures, open_until
        return self.key("breaker")

    # fleet
    @property
    def heartbeat(self) -> str:
        return self.key("heartbeat")


@dataclass(frozen=True, slots=True)
class Keyspace:
    """Key builder for one deployment; tests use their own ``prefix`` and wipe it after."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not PREFIX_RE.fullmatch(self.prefix):
            raise ValueError(f"invalid key prefix {self.prefix!r}")

    def bot(self, bot_id: str) -> BotKeys:
        return BotKeys(self.prefix, validate_bot_id(bot_id))

    def market(self) -> MarketKeys:
        """Market-wide evidence, read by every bot's synthesis (stored once)."""
        return MarketKeys(self.prefix)

    # --- global keys ---------------------------------------------------------------------
    def ledger(self, *parts: str) -> str:
        """Cost-ledger keys; all in one slot (see module docstring)."""
        return f"{self.prefix}:{LEDGER_TAG}:" + ":".join(_part(p) for p in parts)

    def ledger_bot_day(self, bot_id: str, day: str) -> str:
        return self.ledger("bot", validate_bot_id(bot_id), "day", day)

    def ledger_global_day(self, day: str) -> str:
        return self.ledger("global", "day", day)

    def ledger_month(self, month: str) -> str:
        return self.ledger("global", "month", month)

    def ledger_run(self, run_id: str) -> str:
        """Micro-dollars reserved and charged by one backtest or evaluate run (its own cap)."""
        return self.ledger("run", run_id)

    def ledger_usage(self, day: str) -> str:  # hash: usage counters for the day
        return self.ledger("usage", day)

    def ledger_latency(self, period: str, bot_id: str | None = None) -> str:
        """List of recent LLM call latencies, global or of one bot, for a day or month."""
        if bot_id is None:
            return self.ledger("latency", period)
        return self.ledger("latency", period, validate_bot_id(bot_id))

    def global_rate_window(self, minute: int) -> str:
        return f"{self.prefix}:{{ctx-global}}:rate:{minute}"

    @property
    def bots(self) -> str:  # set of known bot ids
        return f"{self.prefix}:{{ctx-global}}:bots"

    def lease(self, account: str) -> str:
        """Single-writer lease of one exchange sub-account."""
        return f"{self.prefix}:{{ctx-lease}}:account:{_part(account)}"

    @property
    def alerts(self) -> str:  # hash: alert key -> JSON (de-duplication)
        return f"{self.prefix}:{{ctx-global}}:alerts"

    @property
    def feeds_status(self) -> str:  # hash: feed name -> JSON of its poller state
        return f"{self.prefix}:{{ctx-feeds}}:status"

    def feeds_claim(self, name: str) -> str:  # string, expiring: the replica polling this feed
        return f"{self.prefix}:{{ctx-feeds}}:claim:{_part(name)}"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}:*"
