"""Asynchronous verdict asks shared by every sidecar process on one Redis.

Several sidecars may serve one bot (replicas behind a Service; a bot's next request can reach
another one), and a sidecar may restart. One string key per ask (bot, pair, candidate, candle:
``BotKeys.verdict_ask``) makes sure only one of them does the work:

* the process about to run the chain claims it with ``SET NX`` (``{"owner", "at"}``, for
  ``claim_ttl_s``: the longest the work can take); a process that finds the claim taken does not
  run it, and its asks answer "pending";
* once done, the key holds ``{"verdict": ...}`` for ``keep_s``: any process answers it;
* a failed run releases its claim (owner-checked), so the next ask tries again. A process that
  dies while working leaves its claim until it expires; then the next ask starts afresh.

The claim is taken when the work starts, not when it is queued: a queued ask costs nothing and
holds nothing. Contents that do not read back (another version, a hand edit, a verdict for
another request) are replaced. Redis errors propagate: the ask is answered 503.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import ValidationError

from context_service.contract import Verdict, VerdictRequest
from context_service.keys import Keyspace
from context_service.redis_text import as_text

logger = logging.getLogger(__name__)

# Replace the value only if it is still the one read (a claim or unreadable contents).
_REPLACE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Elsewhere:
    """Another process is working on the ask (for ``running_s`` so far)."""

    running_s: float


Found = Verdict | Elsewhere | None  # None: nobody has it


class AskClaims:
    """Claims and finished verdicts of asynchronous asks, in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        keyspace: Keyspace,
        claim_ttl_s: float,
        keep_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._keyspace = keyspace
        self._claim_ms = max(1000, int(claim_ttl_s * 1000))
        self._keep_ms = max(1000, int(keep_s * 1000))
        self._clock = clock
        self.owner = uuid.uuid4().hex  # this process
        self._replace = client.register_script(_REPLACE)
        self._release = client.register_script(_RELEASE)

    def _key(self, request: VerdictRequest) -> str:
        keys = self._keyspace.bot(request.bot_id)
        candle = int(request.candle_time.timestamp())
        return keys.verdict_ask(request.candidate, candle, request.pair)

    def find(self, request: VerdictRequest) -> Found:
        """The finished verdict, the claim of another process, or None."""
        raw = self._redis.get(self._key(request))
        return None if raw is None else self._read(as_text(raw), request)[0]

    def claim(self, request: VerdictRequest) -> tuple[Found, str | None]:
        """Claim the ask for this process: ``(None, token)`` when it is ours to run (``token``
        releases it), else what is there (a verdict, or another process's claim)."""
        key = self._key(request)
        token = json.dumps({"owner": self.owner, "at": self._clock()})
        if self._redis.set(key, token, nx=True, px=self._claim_ms):
            return None, token
        raw = self._redis.get(key)
        if raw is None:  # expired just now: one more try
            taken = self._redis.set(key, token, nx=True, px=self._claim_ms)
            return (None, token) if taken else (Elsewhere(0.0), None)
        found, stale = self._read(as_text(raw), request)
        if not stale:
            return found, None
        # Unreadable, or a claim of this very process that nothing runs any more (its release
        # failed): take it over, unless it changed meanwhile.
        if self._replace(keys=[key], args=[as_text(raw), token, self._claim_ms]):
            return None, token
        return Elsewhere(0.0), None

    def finish(self, request: VerdictRequest, verdict: Verdict) -> None:
        """Keep the verdict for every process (``keep_s``); the claim goes with it."""
        body = json.dumps({"verdict": json.loads(verdict.model_dump_json())})
        self._redis.set(self._key(request), body, px=self._keep_ms)

    def release(self, request: VerdictRequest, token: str) -> None:
        """Give up a claim this process holds (a failed or cancelled run)."""
        self._release(keys=[self._key(request)], args=[token])

    def _read(self, raw: str, request: VerdictRequest) -> tuple[Found, bool]:
        """What ``raw`` says, and whether it is stale (to be replaced by the next claim)."""
        try:
            body: Any = json.loads(raw)
            if isinstance(body, dict) and "verdict" in body:
                verdict = Verdict.model_validate(body["verdict"])
                if _answers(verdict, request):
                    return verdict, False
            elif isinstance(body, dict) and isinstance(body.get("owner"), str):
                running_s = self._clock() - float(body["at"])
                if body["owner"] == self.owner:
                    return None, True  # a leftover of this process: nothing runs it here
                # Claims expire after claim_ttl_s: one older (or NaN) was not written here.
                if abs(running_s) <= self._claim_ms / 1000:
                    return Elsewhere(max(0.0, running_s)), False
        except (ValueError, TypeError, KeyError, ValidationError):
            pass
        logger.warning("unusable verdict ask record %r: the next claim replaces it", raw[:200])
        return None, True


def _answers(verdict: Verdict, request: VerdictRequest) -> bool:
    return (
        verdict.bot_id == request.bot_id
        and verdict.pair == request.pair
        and verdict.candidate == request.candidate
        and verdict.candle_time == request.candle_time
    )
