"""The ``"context"`` section of a Freqtrade config: the strategy's options and its budget."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from context_service.fleet.lease import validate_account
from context_service.keys import DEFAULT_PREFIX, validate_bot_id
from context_service.risk.budget import BudgetLimits
from context_service.settings import VerdictProviderName

logger = logging.getLogger(__name__)


class StrategyOptions(BaseModel):
    """The ``"context"`` section of a Freqtrade config."""

    model_config = ConfigDict(extra="forbid")

    gating: bool = Field(default=True, description="Ask the engine before every entry.")
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    bot_id: str | None = None
    account: str | None = Field(default=None, description="Sub-account name for the lease.")
    lease_holder: str | None = Field(
        default=None,
        description="Name this instance holds the lease under (default: the bot id); staged "
        "deploys give each container its own, so the lease tells old and new apart.",
    )
    budget: float | None = Field(default=None, gt=0, description="Defaults to available_capital.")
    per_pair_cap: float | None = Field(default=None, gt=0)
    fee_rate: float = Field(default=0.001, ge=0, lt=0.1, description="Worst-case fee reserve.")
    max_entries_per_day: int = Field(default=0, ge=0)
    max_daily_loss: float = Field(default=0.0, ge=0, description="Quote currency, 0 = off.")
    provider: VerdictProviderName | None = None
    record_memory: bool | None = None
    key_prefix: str = DEFAULT_PREFIX
    evidence: list[Literal["news", "sentiment"]] = Field(
        default_factory=list,
        description="In-process runs: archives whose evidence each decision sees as of its "
        "candle (docs/feeds.md).",
    )
    knowledge_file: str | None = Field(
        default=None,
        description="Goals, constraints and pinned facts pushed into the context at start-up "
        "(YAML or JSON; relative paths are inside the user_data directory).",
    )
    regime_responses: bool = Field(
        default=True,
        description="Enforce the knowledge file's regime responses (stake scale, entry pause, "
        "trailing-stop tightening) and push regime evidence; false turns both off.",
    )

    _bot = field_validator("bot_id", "lease_holder")(
        lambda cls, v: None if v is None else validate_bot_id(v)
    )
    # Checked here with the lease's own rule: a name the sidecar refuses would otherwise leave
    # the bot running with every entry refused for "lease not held".
    _account = field_validator("account")(lambda cls, v: None if v is None else validate_account(v))


class ConfigProblem(ValueError):
    """The Freqtrade config cannot run this strategy safely."""


def read_options(config: dict[str, Any]) -> StrategyOptions:
    try:
        return StrategyOptions.model_validate(config.get("context") or {})
    except ValidationError as exc:
        raise ConfigProblem(f'invalid "context" section in the Freqtrade config: {exc}') from exc


def configured_budget(config: dict[str, Any]) -> float | None:
    """The bot's budget: ``context.budget``, else the config's ``available_capital``."""
    return (config.get("context") or {}).get("budget") or config.get("available_capital")


def budget_limits(config: dict[str, Any], options: StrategyOptions) -> BudgetLimits:
    budget = configured_budget(config)
    if not budget:
        raise ConfigProblem(
            "no budget: set available_capital (and dry_run_wallet) to the sub-account's "
            'allocation, or "context": {"budget": ...}'
        )
    slots = config.get("max_open_trades")
    if slots == -1 or slots == float("inf"):
        # "as many as there are pairs" (lookahead-analysis forces this): one slot per pair
        slots = len(config.get("exchange", {}).get("pair_whitelist") or []) or 1
    if not isinstance(slots, int) or slots < 1:
        raise ConfigProblem("max_open_trades must be a positive integer (budget slots)")
    wallet = config.get("dry_run_wallet")
    if config.get("dry_run") and isinstance(wallet, int | float) and wallet > float(budget):
        logger.warning(
            "dry_run_wallet %s exceeds the budget %s: the guard still caps exposure at %s",
            wallet,
            budget,
            budget,
        )
    return BudgetLimits(
        budget=float(budget),
        max_open_trades=slots,
        per_pair_cap=options.per_pair_cap,
        fee_rate=max(options.fee_rate, float(config.get("fee") or 0.0)),
    )
