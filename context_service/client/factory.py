"""Everything the strategy needs at run time, built from the Freqtrade config and CTX_* settings.

The Freqtrade config's ``"context"`` section holds the strategy's own options (validated by
:class:`~context_service.client.options.StrategyOptions`); the budget is the config's
``available_capital``. The context pickles for hyperopt workers without its engine connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from context_service.adjustments import DEFAULT_LIMITS, AdjustmentLimits
from context_service.client.adjustments import adjustment_limits
from context_service.client.backtest_engine import in_process_client
from context_service.client.base import ContextClient
from context_service.client.gate import VerdictGate
from context_service.client.notify import BotNotifier
from context_service.client.options import ConfigProblem as ConfigProblem
from context_service.client.options import StrategyOptions, budget_limits, read_options
from context_service.client.options import configured_budget as configured_budget
from context_service.client.regime import RegimeTracker, regime_tracker
from context_service.client.stats import GatingStats, register
from context_service.keys import validate_bot_id
from context_service.risk.budget import BudgetDecision, BudgetGuard, Position
from context_service.risk.critical import CriticalKind, report_critical
from context_service.risk.daily import DailyLimits, DailyRiskLedger
from context_service.risk.refusals import Refusal
from context_service.settings import Settings, get_settings

logger = logging.getLogger(__name__)

LEASE_RENEW_S = 30.0  # the lease TTL is 90 s: renewed well before it lapses


@dataclass
class StrategyContext:
    """The strategy's run-time state outside Freqtrade: engine, gate, guards, counters."""

    options: StrategyOptions
    settings: Settings
    bot_id: str
    client: ContextClient | None
    gate: VerdictGate | None
    guard: BudgetGuard
    daily: DailyRiskLedger
    stats: GatingStats
    in_process: bool
    config: dict[str, Any] = field(repr=False, default_factory=dict)
    blocked_reason: str | None = None
    lease_held: bool = True
    knowledge: list[Any] = field(default_factory=list, repr=False)
    knowledge_pending: bool = False
    strategy_version: str | None = None  # on every verdict and trade record (buildinfo.py)
    config_hash: str | None = None
    lease_renewed_at: datetime | None = None
    regimes: RegimeTracker | None = None
    adjustment_limits: AdjustmentLimits = DEFAULT_LIMITS  # the knowledge file's, or defaults
    # Messages to the user's Telegram/webhook through Freqtrade (dry-run/live; notify.py).
    notifier: BotNotifier | None = field(default=None, repr=False)

    # --- hyperopt workers ---------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """What goes to a hyperopt worker process: everything but the engine connection.

        Freqtrade pickles the strategy (and this context with it) for each parallel epoch; a
        Redis client and the engine hold locks and sockets that cannot cross processes. The
        worker builds its own in-process engine in :meth:`__setstate__`.
        """
        if not self.in_process and self.client is not None:
            raise TypeError("a live strategy context (HTTP client, journal) is not picklable")
        state = dict(self.__dict__)
        state["client"] = None
        state["gate"] = None
        state["notifier"] = None  # Freqtrade's RPC stays in the live process
        state["_min_confidence"] = self.gate.min_confidence if self.gate else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        min_confidence = state.pop("_min_confidence", None)
        self.__dict__.update(state)
        if min_confidence is None:
            return  # no gating: nothing to connect
        self.client = in_process_client(
            self.settings, self.options, self.bot_id, hyperopt=True, wipe=False
        )
        self.gate = VerdictGate(self.client, self.bot_id, min_confidence, self.stats)
        self.knowledge_pending = bool(self.knowledge)  # the worker's engine starts empty

    def attach_notifier(self, notifier: BotNotifier) -> None:
        """Send verdicts, refusals of note and lease events to the user (dry-run/live)."""
        self.notifier = notifier
        if self.gate is not None:
            self.gate.on_verdict = notifier.verdict

    # --- entries --------------------------------------------------------------------------
    def refuse(self, pair: str, refusal: Refusal, detail: str | None = None) -> bool:
        """Count ``refusal`` and log it with its detail; always False (the entry's answer)."""
        self.stats.refuse(refusal)
        if self.notifier is not None:
            self.notifier.refusal(pair, refusal, detail)
        log = logger.debug if self.in_process else logger.info
        log("entry refused on %s: %s", pair, detail or refusal)
        return False

    def stake_for(
        self, pair: str, proposed: float, max_stake: float, positions: list[Position]
    ) -> float:
        limits = self.guard.limits
        room = self.guard.max_entry_stake(positions, pair)
        return max(0.0, min(proposed, max_stake, limits.stake_per_trade, room))

    def refuse_budget(
        self, pair: str, stake: float, decision: BudgetDecision, sized: float | None
    ) -> bool:
        """Refuse an entry the budget guard refused. When the strategy had sized this very
        stake within the room a moment ago, the refusal should be impossible: our view of the
        money is wrong somewhere, so it is a critical error that stops entries (and the bot)."""
        if sized is not None and stake <= sized * (1 + 1e-6):
            self.critical(
                CriticalKind.budget_guard_breach,
                f"{pair}: stake {stake:.6f} sized within the room was refused: {decision.reason}",
                block=True,
            )
        return self.refuse(pair, decision.refusal or Refusal.error, detail=decision.reason)

    def critical(self, kind: CriticalKind, detail: str, block: bool) -> None:
        """A critical error: logged with the marker the fleet monitor stops bots on; ``block``
        also refuses every entry from now on (money-safety errors), whatever the monitor does."""
        report_critical(logger, kind, detail)
        if block and not self.blocked_reason:
            self.blocked_reason = f"critical error ({kind.value}): {detail[:200]}"

    # --- standing knowledge ------------------------------------------------------------------
    def push_knowledge(self) -> None:
        """Send the knowledge file's objects to the context; retried every loop until it works
        (the sidecar may start after the bot). Upserts are idempotent, so a retry is harmless."""
        if not self.knowledge_pending or self.client is None:
            return
        from context_service.client.base import ContextUnavailable

        try:
            count = self.client.upsert_knowledge(self.bot_id, self.knowledge)
        except ContextUnavailable as exc:
            logger.warning("knowledge file not pushed yet (retrying next loop): %s", exc)
            return
        self.knowledge_pending = False
        logger.info("pushed %d standing knowledge objects into the context", count)

    # --- lease and live safety --------------------------------------------------------------
    def renew_lease_every(self, now: datetime, seconds: float = LEASE_RENEW_S) -> None:
        """:meth:`renew_lease` at most every ``seconds`` (the strategy calls it every loop)."""
        last = self.lease_renewed_at
        if last is None or now - last >= timedelta(seconds=seconds):
            self.renew_lease()
            self.lease_renewed_at = now

    def renew_lease(self) -> None:
        if self.client is None or self.in_process:
            return
        account = self.options.account or self.bot_id
        status = self.client.acquire_lease(account, self.options.lease_holder or self.bot_id)
        if status.held != self.lease_held:
            (logger.info if status.held else logger.error)(
                "sub-account lease %s: %s", "held" if status.held else "NOT held", status.reason
            )
            if self.notifier is not None:
                state = "held again" if status.held else "NOT held: every entry is refused"
                self.notifier.event(f"sub-account lease {account} {state} ({status.reason})")
        self.lease_held = status.held

    def live_preflight(self) -> str | None:
        from context_service.kucoin.preflight import live_problem

        return live_problem(self.config, self.settings)

    def rebuild_daily_ledger(self, trades: list[Any]) -> None:
        """After a restart: today's entries and realized PnL from Freqtrade's trade database."""
        today = datetime.now(UTC).date()
        for trade in trades:
            opened = getattr(trade, "open_date_utc", None)
            if opened and opened.date() == today:
                self.daily.record_entry(opened)
            closed = getattr(trade, "close_date_utc", None)
            if closed and closed.date() == today and not trade.is_open:
                self.daily.record_realized(closed, float(trade.close_profit_abs or 0.0))

    # --- trade memory -------------------------------------------------------------------------
    def _write(self, event: Any) -> None:
        if self.client is None:
            return
        if self.client.record_trade_event(event):
            self.stats.memory_events += 1
        else:
            self.stats.memory_failures += 1

    def record_fill(self, trade, order, when: datetime, kind: str, verdict) -> None:
        from context_service.memory.models import TradeEvent

        price, amount = float(order.safe_price), float(order.safe_filled)
        fee_rate = trade.fee_open if kind == "entry_fill" else trade.fee_close
        self._write(
            TradeEvent(
                bot_id=self.bot_id,
                trade_id=trade.id,
                order_id=str(order.order_id or order.id),
                event=kind,
                pair=trade.pair,
                side="buy" if kind == "entry_fill" else "sell",
                time=when,
                price=price,
                amount=amount,
                stake=price * amount,
                fee_quote=price * amount * float(fee_rate or 0.0),
                open_time=trade.open_date_utc,
                **_verdict_fields(verdict),
                **self._build(),
            )
        )

    def _build(self) -> dict[str, str | None]:
        return {"strategy_version": self.strategy_version, "config_hash": self.config_hash}

    def record_close(self, trade, order, when: datetime, realized: float, verdict) -> None:
        from context_service.memory.models import TradeEvent

        entry_cost = sum(
            float(o.safe_filled) * float(o.safe_price)
            for o in trade.orders
            if o.ft_order_side == trade.entry_side
        )
        exit_value = float(order.safe_filled) * float(order.safe_price)
        fees = entry_cost * float(trade.fee_open or 0) + exit_value * float(trade.fee_close or 0)
        self._write(
            TradeEvent(
                bot_id=self.bot_id,
                trade_id=trade.id,
                order_id="close",
                event="trade_closed",
                pair=trade.pair,
                side="sell",
                time=when,
                price=float(order.safe_price),
                amount=float(order.safe_filled),
                stake=entry_cost,
                fee_quote=fees,
                realized_profit=realized,
                open_time=trade.open_date_utc,
                close_time=when,
                exit_reason=(trade.exit_reason or order.ft_order_tag or None),
                **_verdict_fields(verdict),
                **self._build(),
            )
        )


def _verdict_fields(verdict) -> dict[str, Any]:
    if verdict is None:
        return {}
    return {
        "verdict_id": verdict.verdict_id,
        "manifest_id": verdict.manifest_id,
        "context_hash": verdict.context_hash,
        "confidence": verdict.confidence,
    }


def min_confidence_override(options: StrategyOptions, settings: Settings) -> float | None:
    """An operator's explicit minimum confidence: the config's ``context.min_confidence``, else
    ``CTX_MIN_CONFIDENCE`` when it is set; None leaves the strategy's parameter in force."""
    if options.min_confidence is not None:
        return options.min_confidence
    if "min_confidence" in settings.model_fields_set:
        return settings.min_confidence
    return None


def build_strategy_context(
    config: dict[str, Any],
    *,
    in_process: bool,
    settings: Settings | None = None,
    client: ContextClient | None = None,
) -> StrategyContext:
    """Validate the config and build the context; ``client`` overrides the transport (tests)."""
    settings = settings or get_settings()
    options = read_options(config)
    limits = budget_limits(config, options)
    hyperopt = str(config.get("runmode", "")) == "hyperopt"
    default_id = settings.backtest_bot_id if in_process else settings.bot_id
    if hyperopt:
        # Its own audit trail: epochs never mix into the last backtest's (plot markers).
        default_id = f"{settings.backtest_bot_id}-hyperopt"
    bot_id = validate_bot_id(options.bot_id or default_id)
    stats = register(GatingStats(bot_id=bot_id, gating=options.gating, budget=limits.budget))
    if client is None and (options.gating or not in_process):
        if in_process:
            client = in_process_client(settings, options, bot_id, hyperopt=hyperopt)
            if options.evidence:
                from context_service.evidence.backtest import EvidenceProblem, attach_evidence

                stats.evidence = list(options.evidence)
                try:
                    attach_evidence(client, options.evidence, bot_id, stats.record_context)
                except EvidenceProblem as exc:
                    raise ConfigProblem(str(exc)) from exc
        else:
            from context_service.client.http import HttpContextClient

            client = HttpContextClient(
                settings.sidecar_url,
                token=_sidecar_token(settings),
                timeout_s=settings.sidecar_timeout_s,
                journal_dir=settings.journal_dir / bot_id,
            )
            mode = "/v1/verdicts/ask, never waiting" if settings.verdict_async else "/v1/verdicts"
            logger.info("verdicts asked at %s%s", settings.sidecar_url.rstrip("/"), mode)
    knowledge = _knowledge(config, options)
    from context_service.knowledge import KnowledgeFileError

    try:
        path = _knowledge_path(config, options)
        regimes = regime_tracker(config, path, options.regime_responses, in_process)
        adjustments = adjustment_limits(path)
    except KnowledgeFileError as exc:
        raise ConfigProblem(str(exc)) from exc
    stats.regime = regimes.stats if regimes is not None else None
    min_conf = settings.min_confidence if options.min_confidence is None else options.min_confidence
    from context_service.buildinfo import config_hash, strategy_version

    version, config_id = strategy_version(), config_hash(config)
    gate = (
        VerdictGate(
            client,
            bot_id,
            min_conf,
            stats,
            strategy_version=version,
            config_hash=config_id,
            max_wait_s=settings.verdict_max_wait_s,
            asynchronous=settings.verdict_async and not in_process,  # backtests: at once
        )
        if options.gating and client is not None
        else None
    )
    return StrategyContext(
        options=options,
        settings=settings,
        bot_id=bot_id,
        client=client,
        gate=gate,
        guard=BudgetGuard(limits),
        daily=DailyRiskLedger(DailyLimits(options.max_entries_per_day, options.max_daily_loss)),
        stats=stats,
        in_process=in_process,
        config=config,
        knowledge=knowledge,
        knowledge_pending=bool(knowledge) and client is not None,
        strategy_version=version,
        config_hash=config_id,
        regimes=regimes,
        adjustment_limits=adjustments,
    )


def _sidecar_token(settings: Settings) -> Any:
    """The bot's own token (a file re-read on change, or CTX_BOT_TOKEN), else the shared one."""
    if settings.bot_token_file is not None:
        from context_service.client.token import FileTokenAuth

        return FileTokenAuth(settings.bot_token_file)
    secret = settings.bot_token or settings.api_token
    return secret.get_secret_value() if secret else None


def _knowledge_path(config: dict[str, Any], options: StrategyOptions) -> Path | None:
    if not options.knowledge_file:
        return None
    path = Path(options.knowledge_file)
    if not path.is_absolute():
        path = Path(config.get("user_data_dir") or "user_data") / path
    return path


def _knowledge(config: dict[str, Any], options: StrategyOptions) -> list[Any]:
    """The objects of the configured knowledge file; a bad file is a configuration error."""
    path = _knowledge_path(config, options)
    if path is None:
        return []
    from context_service.knowledge import KnowledgeFileError, load_knowledge_file

    try:
        return load_knowledge_file(path)
    except KnowledgeFileError as exc:
        raise ConfigProblem(str(exc)) from exc
