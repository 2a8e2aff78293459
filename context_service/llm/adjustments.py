"""The model's parameter suggestions: judged, recorded, and read back as of a decision.

Every ``suggest_adjustment`` call is recorded in the bot's suggestions list
(``BotKeys.suggestions``, newest first) as accepted or rejected, with why. An accepted one
becomes an :class:`~context_service.adjustments.Adjustment` made at the decision's time (the
request's ``as_of``, else now) in ``BotKeys.adjustments``, a sorted set scored by that time, so
:meth:`AdjustmentBook.in_force` answers "what was in force at T" for a backtest's past ``T`` as
for a live decision, seeing only what was made by then.

A suggestion is rejected when adjustments are off (``CTX_APPLY_ADJUSTMENTS``), when its pause is
for a pair the bot does not trade (neither the pair decided on nor one of its recent verdicts'),
or when its value lies outside the bot's limits (sent with the request). Its expiry is shortened
to the longest allowed (``CTX_ADJUSTMENT_MAX_HOURS``; a pause also ``max_hours``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from pydantic import ValidationError

from context_service.adjustments import DEFAULT_LIMITS, Adjustment, AdjustmentLimits, InForce
from context_service.adjustments import in_force as select_in_force
from context_service.contract import VerdictRequest
from context_service.keys import Keyspace
from context_service.llm.tools import AdjustmentArgs, RejectedSuggestion
from context_service.memory import unreadable
from context_service.redis_text import as_text
from context_service.settings import Settings

log = logging.getLogger("context_service.adjustments")

KEEP_SUGGESTIONS = 500
KEEP_ADJUSTMENTS = 2000
# Pairs of the bot's recent verdicts count as pairs it trades (a pause for any other is refused).
RECENT_PAIRS_FROM = 200


class AdjustmentsUnreadable(RuntimeError):
    """The stored adjustments cannot be read: none may be applied (fail closed)."""


@dataclass(frozen=True, slots=True)
class Judged:
    """One suggestion's fate: the adjustment made of it, or why there is none."""

    adjustment: Adjustment | None
    why: str

    @property
    def accepted(self) -> bool:
        return self.adjustment is not None


class AdjustmentBook:
    """Records suggestions (``BotKeys.suggestions``) and adjustments (``.adjustments``)."""

    def __init__(self, redis_client: redis.Redis, keyspace: Keyspace, settings: Settings) -> None:
        self.redis = redis_client
        self.keyspace = keyspace
        self.settings = settings

    def judge(
        self,
        suggestion: AdjustmentArgs,
        request: VerdictRequest,
        verdict_id: str,
        made_at: datetime,
        known_pairs: set[str],
    ) -> Judged:
        """Whether ``suggestion`` becomes an adjustment made at ``made_at``, and why (not)."""
        if not self.settings.apply_adjustments:
            return Judged(None, "adjustments are off (CTX_APPLY_ADJUSTMENTS)")
        limits = request.adjustment_limits or DEFAULT_LIMITS
        pair = suggestion.pair
        if pair is not None and pair not in known_pairs:
            return Judged(None, f"pair {pair} is not one this bot trades")
        refusal = limits.refusal(suggestion.parameter, suggestion.value)
        if refusal is not None:
            return Judged(None, refusal)
        longest = self.settings.adjustment_max_hours
        if suggestion.parameter == "pause_pair":
            longest = limits.max_hours(longest)
        hours = min(suggestion.expires_in_hours, longest)
        try:
            adjustment = Adjustment(
                parameter=suggestion.parameter,
                value=suggestion.value,
                pair=pair,
                made_at=made_at,
                expires_at=made_at + timedelta(hours=hours),
                verdict_id=verdict_id,
                reason=suggestion.reason,
            )
        except ValidationError as exc:
            return Judged(None, f"invalid: {exc.errors()[0]['msg']}")
        if hours < suggestion.expires_in_hours:
            return Judged(adjustment, f"accepted; expiry shortened to {hours:g} h")
        return Judged(adjustment, "accepted")

    def record(
        self,
        request: VerdictRequest,
        verdict_id: str,
        at: datetime,
        suggestions: list[AdjustmentArgs],
        rejected: list[RejectedSuggestion],
    ) -> list[dict[str, Any]]:
        """Judge and record one answer's suggestions (made at the request's ``as_of``, else
        ``at``); the entries as recorded, for the audit trail."""
        if not suggestions and not rejected:
            return []
        bot_id = request.bot_id
        made_at = request.as_of or at
        known = self._known_pairs(bot_id, request.pair) if suggestions else set()
        entries: list[dict[str, Any]] = []
        accepted: list[Adjustment] = []
        for suggestion in suggestions:
            judged = self.judge(suggestion, request, verdict_id, made_at, known)
            entry = {**suggestion.model_dump(), "accepted": judged.accepted, "why": judged.why}
            if judged.adjustment is not None:
                accepted.append(judged.adjustment)
                entry["expires_at"] = judged.adjustment.expires_at.isoformat()
            entries.append(entry)
        entries += [{**r.as_dict(), "accepted": False} for r in rejected]
        for entry in entries:
            entry.update(verdict_id=verdict_id, made_at=made_at.isoformat())
        keys = self.keyspace.bot(bot_id)
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            pipe.lpush(keys.suggestions, json.dumps(entry))
        pipe.ltrim(keys.suggestions, 0, KEEP_SUGGESTIONS - 1)
        for adjustment in accepted:
            pipe.zadd(keys.adjustments, {adjustment.model_dump_json(): made_at.timestamp()})
        if accepted:
            pipe.zremrangebyrank(keys.adjustments, 0, -(KEEP_ADJUSTMENTS + 1))
        pipe.execute()
        for entry in entries:
            (log.info if entry["accepted"] else log.warning)(
                "bot %s: adjustment suggestion %s: %s",
                bot_id,
                "accepted" if entry["accepted"] else "rejected",
                entry["why"],
            )
        return entries

    def _known_pairs(self, bot_id: str, pair: str) -> set[str]:
        """The pair decided on and those of the bot's recent verdicts."""
        raw = self.redis.lrange(self.keyspace.bot(bot_id).last_verdicts, 0, RECENT_PAIRS_FROM - 1)
        pairs = {pair}
        for item in raw:
            try:
                found = json.loads(as_text(item)).get("pair")
            except (ValueError, AttributeError):
                continue
            if isinstance(found, str):
                pairs.add(found)
        return pairs

    def suggestions(self, bot_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest suggestions, newest first, accepted or not and why."""
        raw = self.redis.lrange(self.keyspace.bot(bot_id).suggestions, 0, limit - 1)
        found = []
        for item in raw:
            try:
                found.append(json.loads(as_text(item)))
            except ValueError as exc:
                unreadable.note("suggestion", bot_id, as_text(item), exc)
        return found

    def in_force(
        self, bot_id: str, at: datetime, limits: AdjustmentLimits | None = None
    ) -> InForce:
        """The bot's adjustments in force at ``at`` (made by then, not expired, within
        ``limits``); :class:`AdjustmentsUnreadable` when any stored one cannot be read, or
        Redis cannot be: then none may be applied."""
        oldest = at - timedelta(hours=self.settings.adjustment_max_hours)
        try:
            raw = self.redis.zrevrangebyscore(
                self.keyspace.bot(bot_id).adjustments, at.timestamp(), oldest.timestamp()
            )
        except redis.RedisError as exc:
            raise AdjustmentsUnreadable(f"adjustments not readable: {exc}") from exc
        made: list[Adjustment] = []
        for item in raw:
            try:
                made.append(Adjustment.model_validate_json(item))
            except ValueError as exc:
                unreadable.note("adjustment", bot_id, as_text(item), exc)
                raise AdjustmentsUnreadable(f"a stored adjustment is unreadable: {exc}") from exc
        return select_in_force(made, at, limits)
