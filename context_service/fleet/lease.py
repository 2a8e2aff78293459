"""Single-writer lease per exchange sub-account, held in Redis.

A bot acquires the lease of its sub-account before it trades and renews it every loop; a second
bot started on the same sub-account finds the lease held by someone else and refuses to trade.
Acquire is ``SET NX PX``; renew and release check the owner inside a Lua script so a bot whose
lease expired can never extend or delete the lease another bot now holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from context_service.fleet.model import ACCOUNT_RE
from context_service.keys import Keyspace, validate_bot_id
from context_service.redis_text import as_text

MIN_TTL_S = 5
MAX_TTL_S = 3600

# Returns {1, holder, pttl} when the caller holds the lease (taken if free, extended if its own),
# else {0, current holder, pttl}.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1], tonumber(ARGV[2])}
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, current, tonumber(ARGV[2])}
end
return {0, current, redis.call('PTTL', KEYS[1])}
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class InvalidLeaseRequest(ValueError):
    """A bad account name, holder or TTL."""


@dataclass(frozen=True)
class LeaseState:
    """The outcome of an acquire/renew: who holds the lease and until when."""

    account: str
    held: bool  # True when the caller holds it
    holder: str | None
    expires_at: datetime | None

    def as_json(self) -> dict:
        return {
            "account": self.account,
            "held": self.held,
            "holder": self.holder,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def validate_account(account: str) -> str:
    if not isinstance(account, str) or not ACCOUNT_RE.fullmatch(account):
        raise InvalidLeaseRequest(
            f"invalid account {account!r}: use the sub-account name (letters, digits, - _ .)"
        )
    return account


class LeaseManager:
    """Acquire, renew, inspect and release sub-account leases."""

    def __init__(self, client: redis.Redis, keyspace: Keyspace | None = None) -> None:
        self._redis = client
        self._keyspace = keyspace or Keyspace()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def _key(self, account: str) -> str:
        return self._keyspace.lease(validate_account(account))

    @staticmethod
    def _ttl_ms(ttl_s: float) -> int:
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise InvalidLeaseRequest(f"ttl_s must be between {MIN_TTL_S} and {MAX_TTL_S} s")
        return int(ttl_s * 1000)

    @staticmethod
    def _expiry(pttl_ms: int) -> datetime | None:
        if pttl_ms is None or int(pttl_ms) < 0:
            return None
        return datetime.now(UTC) + timedelta(milliseconds=int(pttl_ms))

    def acquire(self, account: str, holder: str, ttl_s: float = 90) -> LeaseState:
        """Take the lease if free, extend it if ``holder`` has it, else report the other holder."""
        key = self._key(account)
        validate_bot_id(holder)
        ttl_ms = self._ttl_ms(ttl_s)
        # One atomic script takes a free lease, extends the holder's, or names the other holder.
        ok, current, pttl = self._renew(keys=[key], args=[holder, ttl_ms])
        return LeaseState(account, bool(ok), as_text(current), self._expiry(pttl))

    def release(self, account: str, holder: str) -> bool:
        """Delete the lease only if ``holder`` owns it; True when it was released."""
        validate_bot_id(holder)
        return bool(self._release(keys=[self._key(account)], args=[holder]))

    def current(self, account: str) -> LeaseState:
        key = self._key(account)
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(key)
        pipe.pttl(key)
        holder, pttl = pipe.execute()
        holder = None if holder is None else as_text(holder)
        return LeaseState(account, False, holder, self._expiry(pttl) if holder else None)
