"""``memory-rules``: the rules' verdict, adjusted by the bot's own trading record as of the ask.

With the LLM off, trade memory otherwise changes nothing. This provider reads the bot's closed
trades (strictly before the request's ``as_of``: see :mod:`context_service.memory.record`) and
the insights found in them, and for a rules ``buy``:

* **refuses** where the pair's record is reliably poor: its decayed win ratio's upper Wilson
  bound is below ``poor_win_ratio`` and it loses money on average, or the pair's
  ``poor-record`` insight is in force and the decayed record still loses money;
* **raises or lowers the confidence** by how each slice (the pair, the entry hour, the
  confidence bucket) wins compared with the bot overall, and lowers it when the pair keeps
  ending in stop-losses (the exit-reason statistic), each step and the total capped;
* names in the rationale every statistic that moved it.

Holds and exits are the rules' own: memory only ever judges new entries. Slices with fewer than
``min_trades`` trades say nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from context_service.contract import Action, VerdictRequest
from context_service.memory import Memory
from context_service.memory.insights import InsightRules, detect_insights
from context_service.memory.models import ClosedTrade
from context_service.memory.record import (
    SliceRecord,
    decay_weight,
    is_stop_exit,
    select,
    slice_record,
    trades_before,
)
from context_service.memory.stats import confidence_bucket
from context_service.verdicts.provider import Ask, Decision, VerdictProvider, register
from context_service.verdicts.rules import RulesPolicy


@dataclass(frozen=True)
class MemoryRulesParams:
    """Sample sizes, decay and step sizes; fixed a priori, not fitted on evaluated data."""

    min_trades: int = 8
    half_life_hours: float = 24 * 21
    z: float = 1.28  # one-sided 90% Wilson bound
    poor_win_ratio: float = 0.45
    gain: float = 0.5  # confidence moved per unit of win-ratio difference
    max_step: float = 0.1  # per statistic
    max_total: float = 0.2
    stop_share: float = 0.6  # stop-loss exits at or above this share of a pair's trades


@dataclass(frozen=True)
class MemoryJudgement:
    action: Action
    confidence: float
    notes: list[str]
    insight_ids: list[str]


class MemoryRulesPolicy:
    """The adjustment itself, pure: trades in, judgement out (the provider does the reading)."""

    def __init__(self, params: MemoryRulesParams | None = None) -> None:
        self.params = params or MemoryRulesParams()

    def _record(self, name: str, trades: list[ClosedTrade], as_of: datetime) -> SliceRecord | None:
        p = self.params
        if len(trades) < p.min_trades:
            return None
        return slice_record(name, trades, as_of, p.half_life_hours, p.z)

    def judge(
        self,
        bot_id: str,
        pair: str,
        as_of: datetime,
        base: Decision,
        history: list[ClosedTrade],
    ) -> MemoryJudgement:
        p = self.params
        trades = trades_before(history, as_of)
        overall = self._record("all trades", trades, as_of)
        if overall is None:
            note = f"trade memory: {len(trades)} closed trades, fewer than {p.min_trades}"
            return MemoryJudgement(base.action, base.confidence, [note], [])
        pair_trades = select(trades, lambda t: t.pair == pair)
        by_pair = self._record(f"pair {pair}", pair_trades, as_of)
        active = [
            i.id
            for i in detect_insights(trades, bot_id, InsightRules(min_trades=p.min_trades))
            if i.valid_until is None
        ]
        pair_insights = [i for i in active if i.startswith(f"insight:pair:{_id_part(pair)}:")]
        if by_pair is not None and by_pair.mean_return < 0:
            if by_pair.wilson_high < p.poor_win_ratio:
                why = f"refused, record reliably poor: {by_pair.describe()}"
                return MemoryJudgement(
                    Action.hold, round(1 - base.confidence, 4), [why], pair_insights
                )
            if pair_insights:
                why = f"refused, insight {pair_insights[0]} in force: {by_pair.describe()}"
                return MemoryJudgement(
                    Action.hold, round(1 - base.confidence, 4), [why], pair_insights
                )
        hour = as_of.hour  # the entry fills on the candle that opens at as_of
        bucket = confidence_bucket(base.confidence)
        slices = [
            by_pair,
            self._record(
                f"entry hour {hour:02d}", select(trades, lambda t: t.entry_hour == hour), as_of
            ),
            self._record(
                f"confidence {bucket}",
                select(trades, lambda t: confidence_bucket(t.confidence) == bucket),
                as_of,
            ),
        ]
        steps: list[tuple[float, str]] = []
        for record in slices:
            if record is None:
                continue
            step = max(
                -p.max_step, min(p.max_step, p.gain * (record.win_ratio - overall.win_ratio))
            )
            if abs(step) >= 0.005:
                steps.append(
                    (step, f"{step:+.3f} {record.describe()} vs bot {overall.win_ratio:.2f}")
                )
        stop = self._stop_share(pair_trades, as_of)
        if stop is not None and stop >= p.stop_share:
            step = -min(p.max_step, p.gain * (stop - p.stop_share + 0.1))
            steps.append(
                (step, f"{step:+.3f} stop-loss exits of {pair}: {stop:.0%} of its recent trades")
            )
        total = max(-p.max_total, min(p.max_total, sum(s for s, _ in steps)))
        confidence = round(min(1.0, max(0.0, base.confidence + total)), 4)
        steps.sort(key=lambda s: -abs(s[0]))
        notes = [n for _, n in steps] or [f"no statistic moved it ({overall.describe()})"]
        return MemoryJudgement(Action.buy, confidence, notes, pair_insights)

    def _stop_share(self, trades: list[ClosedTrade], as_of: datetime) -> float | None:
        """Decayed share of ``trades`` that ended in a stop-loss (None: too few trades)."""
        p = self.params
        if len(trades) < p.min_trades:
            return None
        weights = [
            (decay_weight((as_of - t.close_time).total_seconds() / 3600, p.half_life_hours), t)
            for t in trades
        ]
        total = sum(w for w, _ in weights)
        return sum(w for w, t in weights if is_stop_exit(t)) / total if total > 0 else None


def _id_part(text: str) -> str:
    from context_service.memory.insights import _id_part as insight_id_part

    return insight_id_part(text)


@register
class MemoryRulesProvider(VerdictProvider):
    """The rules' verdict, adjusted by the bot's point-in-time trade record."""

    name = "memory-rules"
    summary = "rules verdicts adjusted by the bot's own as-of trade record (no LLM)"
    needs = "Redis (the bot's trade memory)"
    fallback = "rules"  # trade memory unreadable (Redis down): the plain rules answer

    def __init__(
        self,
        memory: Memory,
        rules: RulesPolicy | None = None,
        policy: MemoryRulesPolicy | None = None,
    ) -> None:
        self.memory = memory
        self.rules = rules or RulesPolicy()
        self.policy = policy or MemoryRulesPolicy()

    @classmethod
    def build(cls, components: Any) -> MemoryRulesProvider:
        return cls(components.memory)

    def history(self, request: VerdictRequest, as_of: datetime) -> list[ClosedTrade]:
        """The bot's closed trades a decision at ``as_of`` may see (strictly before it)."""
        bot = self.memory.bot(request.bot_id, register=False)
        return bot.closed_trades_before(as_of)

    def decide(self, ask: Ask) -> Decision:
        request = ask.request
        base = self.rules.decide(request)
        evidence = list(base.evidence_ids)
        if request.candidate == "exit" or request.position is not None:
            return Decision(base.action, base.confidence, base.rationale, evidence)
        if base.action is not Action.buy:
            why = f"{base.rationale}; trade memory judges only rules buys"
            return Decision(base.action, base.confidence, why, evidence)
        as_of = request.as_of or ask.now
        judgement = self.policy.judge(
            request.bot_id, request.pair, as_of, base, self.history(request, as_of)
        )
        known = ask.known_evidence_ids
        cited = [i for i in judgement.insight_ids if i in known]
        rationale = f"rules {base.action.value} {base.confidence:.2f} ({base.rationale}); " + (
            "memory: " + "; ".join(judgement.notes)
        )
        return Decision(judgement.action, judgement.confidence, rationale[:2000], evidence + cited)
