"""An in-process engine for providers that never read the synthesized context.

The ``random`` control decides from (seed, pair, candle, candidate) alone. Running it through
the full service would synthesize a context for every candidate and write an audit entry to
Redis, only for the provider to ignore both: the verdicts would be the same, just slower. This
engine asks the registered provider directly, so the control variants of an evaluation cost
about as much as an ungated backtest. Providers opt in with ``reads_context = False``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from context_service.models import utcnow
from context_service.verdicts.models import Verdict, VerdictRequest
from context_service.verdicts.provider import Ask, ProviderSkipped, VerdictProvider


def reads_context(provider: type[VerdictProvider]) -> bool:
    return bool(getattr(provider, "reads_context", True))


@dataclass
class DirectEngine:
    """The engine protocol of :class:`InProcessContextClient` over one provider, no context."""

    provider: VerdictProvider

    def decide(self, request: VerdictRequest, providers: Any = None) -> Verdict:
        now = utcnow()
        ask = Ask(request=request, synthesis=None, now=now, replay_params={})  # type: ignore[arg-type]
        try:
            decision = self.provider.decide(ask)
        except ProviderSkipped as skipped:
            return self._verdict(request, "hold", 1.0, "no verdict", f"{skipped.reason}")
        return self._verdict(
            request,
            str(decision.action),
            decision.confidence,
            decision.rationale,
            None,
            cost=decision.cost_usd,
            prompt=decision.prompt_tokens,
            completion=decision.completion_tokens,
        )

    def _verdict(
        self,
        request: VerdictRequest,
        action: str,
        confidence: float,
        rationale: str,
        fallback: str | None,
        *,
        cost: float = 0.0,
        prompt: int = 0,
        completion: int = 0,
    ) -> Verdict:
        key = f"{self.provider.name}|{request.pair}|{request.candle_time.isoformat()}|"
        key += request.candidate
        return Verdict(
            verdict_id=hashlib.sha256(key.encode()).hexdigest()[:24],
            bot_id=request.bot_id,
            pair=request.pair,
            candle_time=request.candle_time,
            candidate=request.candidate,
            action=action,
            confidence=confidence,
            rationale=rationale[:2000],
            source=self.provider.name,
            fallback_reason=fallback,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
        )

    def record_trade_event(self, event: Any) -> bool:
        return True  # nothing reads trade memory here

    def upsert(self, bot_id: str, objects: list[Any]) -> list[Any]:
        return list(objects)  # standing knowledge only shapes context, which is not read

    def close(self) -> None:
        self.provider.close()
