"""Run every variant of an evaluation on one Freqtrade Backtesting object.

Data loading, indicators and signals are shared: Freqtrade's ``Backtesting`` is built once
(config, markets, pair list, wallet), candles are loaded once, ``advise_all_indicators`` and the
signal columns are computed once. Each variant then resets the strategy's run state, gets its
own verdict gate, provider and counters in ``bot_start`` (nothing carries over between
variants) and one call of ``Backtesting.backtest``, the way Freqtrade's hyperopt re-runs
``backtest()`` per epoch. With ``workers`` > 1, forked processes run variants side by side.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One backtest of the evaluation: gating off, a provider, or the seeded random gate."""

    name: str
    kind: str  # ungated | gated | random
    provider: str | None = None
    seed: int | None = None
    entry_rate: float | None = None
    exit_rate: float | None = None
    chain_start: str | None = None  # where the provider's chain starts (replay for paid ones)
    capture_asks: bool = False  # keep every ask (the masked sample asks some again)


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """One verdict the strategy received during a variant's run."""

    pair: str
    candle: pd.Timestamp
    candidate: str
    action: str
    confidence: float
    source: str
    cost_usd: float
    tokens: int


@dataclass
class VariantRun:
    variant: Variant
    trades: list[dict[str, Any]]
    verdicts: list[VerdictRecord]
    stats: dict[str, Any]
    min_confidence: float
    seconds: float
    final_balance: float
    asks: list[Any] = field(default_factory=list)  # with Variant.capture_asks

    def approved(self, record: VerdictRecord) -> bool:
        """Whether the gate let this verdict act (the strategy's own rule, see VerdictGate)."""
        wanted = "buy" if record.candidate == "entry" else "sell"
        return record.action == wanted and record.confidence >= self.min_confidence

    def approval_rate(self, candidate: str) -> float | None:
        asked = [r for r in self.verdicts if r.candidate == candidate]
        if not asked:
            return None
        return sum(1 for r in asked if self.approved(r)) / len(asked)

    @property
    def llm_cost(self) -> float:
        return sum(r.cost_usd for r in self.verdicts)

    @property
    def llm_tokens(self) -> int:
        return sum(r.tokens for r in self.verdicts)


@dataclass
class SharedBacktest:
    """Freqtrade's Backtesting with data, indicators and signals prepared once for all variants.

    Entry and exit signals do not depend on gating (verdicts act in the callbacks), so the
    candle lists Freqtrade's loop walks are built once; each variant resets the one strategy
    instance's run state, builds its own gate in ``bot_start`` and calls ``backtest()``.
    """

    config: dict[str, Any]
    backtesting: Any = None
    strategy: Any = None
    analyzed: dict[str, pd.DataFrame] = field(default_factory=dict)
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    timeframe: str = "1h"
    wallet: float = 0.0
    prepare_seconds: float = 0.0
    _lists: dict[str, list] = field(default_factory=dict, repr=False)

    def prepare(self) -> None:
        from freqtrade.data.converter import trim_dataframes
        from freqtrade.data.history import get_timerange
        from freqtrade.optimize.backtesting import Backtesting

        started = time.perf_counter()
        base = copy.deepcopy(self.config)
        base.setdefault("context", {})["gating"] = False  # the indicator pass needs no engine
        bt = Backtesting(base)
        data, timerange = bt.load_bt_data()
        bt._set_strategy(bt.strategylist[0])
        preprocessed = bt.strategy.advise_all_indicators(data)
        trimmed = trim_dataframes(preprocessed, timerange, bt.required_startup)
        if not trimmed:
            raise ValueError("no candles left in the timerange after the startup period")
        start, end = get_timerange(trimmed)
        self.start, self.end = pd.Timestamp(start), pd.Timestamp(end)
        # Signals and candidate indices, once: Freqtrade's own conversion, kept for every run.
        analyzed = dict(preprocessed)
        self._lists = bt._get_ohlcv_as_lists(analyzed)
        self.analyzed = analyzed
        bt._get_ohlcv_as_lists = self._prepared_lists
        self.backtesting, self.strategy = bt, bt.strategy
        self.timeframe = bt.timeframe
        self.wallet = float(bt.wallets.get_starting_balance())
        self.prepare_seconds = time.perf_counter() - started

    def _prepared_lists(self, processed: dict[str, pd.DataFrame]) -> dict[str, list]:
        """Stands in for ``Backtesting._get_ohlcv_as_lists`` after the first run: the same
        lists (the loop only reads them) and the analyzed frames back in the data provider,
        whose cache every ``backtest()`` clears."""
        bt = self.backtesting
        for pair, frame in self.analyzed.items():
            bt.dataprovider._set_cached_df(pair, bt.timeframe, frame, bt.config["candle_type_def"])
        return self._lists

    @property
    def pairs(self) -> list[str]:
        return list(self.analyzed)

    def candles(self, pair: str) -> pd.DataFrame:
        """The analyzed candles of ``pair`` within the evaluated period."""
        return self.analyzed[pair]

    def run(self, variant: Variant) -> VariantRun:
        bt, strategy = self.backtesting, self.strategy
        if strategy.ctx is not None and strategy.ctx.client is not None:
            strategy.ctx.client.close()
        context = dict(self.config.get("context") or {})
        context["gating"] = variant.kind == "gated"
        if variant.kind == "gated" and variant.provider:
            context["provider"] = variant.chain_start or variant.provider
        strategy.config["context"] = context
        started = time.perf_counter()
        strategy.reset_run_state()
        bt._set_strategy(strategy)  # bot_start: builds the gate and its provider chain
        if variant.kind == "random":
            strategy.ctx = _random_gate_context(strategy.config, variant)
        ctx = strategy.ctx
        log: list[VerdictRecord] = []
        asks: list[Any] = []
        if ctx is not None:
            _record_verdicts(ctx.stats, log)
            if variant.capture_asks:
                from context_service.evaluate.asklog import capture_asks

                asks = capture_asks(ctx)
        # Freqtrade numbers trades from its object's counter, never reset between backtest()
        # calls: each variant starts from 1, like a backtest of its own, so a trade's id (part of
        # an exit ask's request, hence of its replay key) does not depend on the variants before.
        bt.trade_id_counter = 0
        result = bt.backtest({}, self.start.to_pydatetime(), self.end.to_pydatetime())
        seconds = time.perf_counter() - started
        trades = result["results"].to_dict("records")
        min_conf = ctx.gate.min_confidence if ctx is not None and ctx.gate is not None else 0.0
        return VariantRun(
            variant=variant,
            trades=trades,
            verdicts=log,
            stats=ctx.stats.as_dict() if ctx is not None else {},
            min_confidence=float(min_conf),
            seconds=seconds,
            final_balance=float(result["final_balance"]),
            asks=asks,
        )


def _random_gate_context(config: dict[str, Any], variant: Variant) -> Any:
    """The strategy's context for a random-gate variant: the registered ``random`` provider
    asked directly (it reads no context, see :mod:`context_service.evaluate.direct`)."""
    from context_service.client.factory import build_strategy_context
    from context_service.client.inprocess import InProcessContextClient
    from context_service.evaluate.direct import DirectEngine, reads_context
    from context_service.verdicts.provider import provider_class
    from context_service.verdicts.providers.random import RandomGateParams

    cls = provider_class("random")
    if reads_context(cls):
        raise ValueError("the registered 'random' provider reads context: cannot run it directly")
    params = RandomGateParams(
        seed=variant.seed or 0, entry_rate=variant.entry_rate, exit_rate=variant.exit_rate
    )
    client = InProcessContextClient(DirectEngine(cls(params)), record_memory=False)
    gated = copy.deepcopy(config)
    gated["context"]["gating"] = True
    return build_strategy_context(gated, in_process=True, client=client)


def _record_verdicts(stats: Any, log: list[VerdictRecord]) -> None:
    """Keep every verdict the gate records (the stats' own counters stay as they are)."""
    original: Callable[..., None] = stats.record_verdict

    def record(verdict: Any, seconds: float) -> None:
        original(verdict, seconds)
        log.append(
            VerdictRecord(
                pair=verdict.pair,
                candle=pd.Timestamp(verdict.candle_time).tz_convert("UTC"),
                candidate=verdict.candidate,
                action=str(verdict.action),
                confidence=float(verdict.confidence),
                source=str(verdict.source),
                cost_usd=float(verdict.cost_usd),
                tokens=int(verdict.prompt_tokens) + int(verdict.completion_tokens),
            )
        )

    stats.record_verdict = record


_SHARED: SharedBacktest | None = None  # what forked workers inherit


def _run_in_worker(variant: Variant) -> VariantRun:
    assert _SHARED is not None
    return _SHARED.run(variant)


def run_all(
    shared: SharedBacktest,
    variants: list[Variant],
    progress: Callable[[str], None],
    workers: int = 1,
) -> list[VariantRun]:
    """Run ``variants``; with ``workers`` > 1 in forked processes that inherit the prepared
    data (nothing is re-loaded or pickled on the way in). Results keep the variants' order."""
    total = len(variants)
    done: dict[int, VariantRun] = {}

    def report(index: int, run: VariantRun) -> None:
        done[index] = run
        progress(
            f"[{len(done)}/{total}] {run.variant.name}: {len(run.trades)} trades, "
            f"{len(run.verdicts)} verdicts, {run.seconds:.1f} s"
        )

    if workers <= 1 or total == 1:
        for index, variant in enumerate(variants):
            progress(f"running {variant.name} ...")
            report(index, shared.run(variant))
        return [done[i] for i in range(total)]

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    global _SHARED
    _SHARED = shared
    progress(f"running {', '.join(v.name for v in variants)} in {workers} workers ...")
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(workers, total), mp_context=context) as pool:
            futures = {pool.submit(_run_in_worker, v): i for i, v in enumerate(variants)}
            for future in as_completed(futures):
                report(futures[future], future.result())
    finally:
        _SHARED = None
    return [done[i] for i in range(total)]


def data_hash(datadir: Path, pairs: list[str], timeframe: str) -> str:
    """SHA-256 over the candle files the evaluation read (names and bytes)."""
    import hashlib

    from context_service.backtest.data import candle_file

    digest = hashlib.sha256()
    for pair in sorted(pairs):
        path = candle_file(datadir, pair, timeframe)
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
