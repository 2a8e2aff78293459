"""``backtest`` and ``evaluate`` with the LLM provider, end to end on a small slice of the real
candles, against a respx-mocked OpenAI-compatible endpoint (each command in a forked child,
see llm_child.py): the estimate before any call, consent, the replay cache making a re-run
free, the run cap, the masked sample and the training cutoff in the report."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from context_service.settings import USER_DATA
from evaluate.llm_child import ChildRun, llm_env, run_child

PAIRS = ["SOL/USDT", "XRP/USDT"]
TIMERANGE = "20220101-20220301"

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def wipe(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of the test's own (replay cache, ledger, memory), wiped afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    wipe(redis_url, name)


@pytest.fixture(scope="module")
def env(redis_url: str, shared_data: Path, markets_snapshot: Path) -> dict[str, str]:
    return llm_env(redis_url, shared_data, markets_snapshot)


# --- backtest --------------------------------------------------------------------------------


def backtest(tmp: Path, prefix: str, env: dict[str, str], *extra: str, **kw: Any) -> ChildRun:
    overlay = tmp / "overlay.json"
    overlay.write_text(json.dumps({"context": {"key_prefix": prefix}}), encoding="utf-8")
    (tmp / "results").mkdir(exist_ok=True)
    argv = [
        "--pairs", *PAIRS, "--timerange", TIMERANGE, "--markets", "snapshot",
        "--provider", "llm", "--summary-json", str(tmp / "summary.json"), *extra,
        "--", "--config", str(overlay), "--backtest-directory", str(tmp / "results"),
    ]  # fmt: skip
    return run_child("backtest", argv, env, **kw)


def summary(tmp: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path = tmp / "summary.json"
    result = json.loads(path.read_text())
    trades = json.loads(path.with_suffix(".trades.json").read_text())
    path.unlink()
    return result, trades


@dataclass
class Paid:
    """The first paid run of a module (its tests read it; a re-run uses its cache)."""

    tmp: Path
    prefix: str
    run: ChildRun
    result: dict[str, Any]
    trades: list[dict[str, Any]]


@pytest.fixture(scope="module")
def paid_backtest(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, env: dict[str, str]
) -> Iterator[Paid]:
    tmp, prefix = tmp_path_factory.mktemp("paid-backtest"), f"t{uuid.uuid4().hex[:12]}"
    run = backtest(tmp, prefix, env, "--yes")
    assert run.code == 0, run.err[-3000:]
    result, trades = summary(tmp)
    yield Paid(tmp, prefix, run, result, trades)
    wipe(redis_url, prefix)


def test_backtest_without_consent_prints_the_estimate_and_calls_nothing(
    tmp_path: Path, prefix: str, env: dict[str, str]
) -> None:
    refused = backtest(tmp_path, prefix, env)  # stdin is no terminal, and no --yes
    assert refused.code == 2 and refused.calls == 0, refused.err[-2000:]
    assert "LLM spend estimate, before any call: gpt-4.1-mini" in refused.out
    assert (
        "backtest: 0 asks" not in refused.out and "prompts counted with o200k_base" in refused.out
    )
    last = refused.err.strip().splitlines()[-1]
    assert last.startswith("backtest: this run would make") and "--yes" in last
    assert "--max-usd" in last and not (tmp_path / "summary.json").exists()


def test_paid_backtest_reports_estimate_charge_and_cutoff(paid_backtest: Paid) -> None:
    run, gating, llm = (
        paid_backtest.run,
        paid_backtest.result["gating"],
        paid_backtest.result["llm"],
    )
    assert run.calls == gating["verdicts_by_source"]["llm"] > 0
    assert llm["consent"] == "--yes" and llm["estimate"]["calls"] > 0
    assert llm["charged_usd"] == pytest.approx(run.calls * (900 * 0.4 + 40 * 1.6) / 1e6)
    assert llm["training_cutoff"] == "2024-06-01" and "memorization" in llm["cutoff_warning"]
    assert "WARNING: the evaluated window ends 2022-03-01" in run.out
    assert "chain replay -> llm -> rules -> hold" in run.out


def test_backtest_rerun_costs_nothing_and_trades_the_same(
    paid_backtest: Paid, env: dict[str, str]
) -> None:
    again = backtest(paid_backtest.tmp, paid_backtest.prefix, env)  # nothing to pay: no --yes
    assert again.code == 0 and again.calls == 0, again.err[-3000:]
    replayed, same_trades = summary(paid_backtest.tmp)
    paid = paid_backtest.result
    assert replayed["llm"]["consent"].startswith("nothing to call")
    assert replayed["gating"]["verdicts_by_source"] == {"replay": paid["gating"]["decisions"]}
    assert replayed["gating"]["llm_cost_usd"] == 0 and replayed["llm"]["charged_usd"] == 0
    # the same trades; a verdict exit (and its order's tag) names the verdict's source, now
    # the cache
    as_replayed = json.dumps(paid_backtest.trades).replace(
        "verdict_sell_llm", "verdict_sell_replay"
    )
    assert same_trades == json.loads(as_replayed)
    assert replayed["profit_total_abs"] == paid["profit_total_abs"]


def test_backtest_run_cap_stops_calling_the_llm(
    tmp_path: Path, prefix: str, env: dict[str, str]
) -> None:
    # One call reserves about $0.001 (its prompt plus 300 completion tokens) and is charged
    # $0.000424 (the mocked usage): a cap of $0.0015 lets two calls through.
    capped = backtest(tmp_path, prefix, env, "--max-usd", "0.0015")
    assert capped.code == 0, capped.err[-3000:]
    result, _ = summary(tmp_path)
    gating, llm = result["gating"], result["llm"]
    assert capped.calls == 2 and gating["verdicts_by_source"]["llm"] == 2
    at_cap = sum(n for reason, n in gating["fallback_reasons"].items() if "llm:run_cap" in reason)
    assert at_cap == gating["decisions"] - 2 > 0
    assert llm["consent"] == "cap" and llm["run_cap_usd"] == 0.0015
    assert llm["charged_usd"] <= 0.0015
    assert f"{at_cap} asks fell back at it" in capped.out


def test_backtest_refuses_bad_spend_options_in_one_line(
    tmp_path: Path, prefix: str, env: dict[str, str]
) -> None:
    for value in ("nan", "-1", "1e400"):
        bad = backtest(tmp_path, prefix, env, "--max-usd", value)
        assert bad.code == 2 and bad.calls == 0
        assert "--max-usd: must be a positive number of USD" in bad.err
    analysis = run_child("backtest", ["--provider", "llm", "--analysis", "lookahead", "--yes"], env)
    assert analysis.code == 2 and analysis.calls == 0
    assert "--analysis re-runs the backtest many times" in analysis.err.strip().splitlines()[-1]


# --- evaluate --------------------------------------------------------------------------------


def evaluate(tmp: Path, prefix: str, env: dict[str, str], *extra: str, **kw: Any) -> ChildRun:
    config = json.loads((USER_DATA / "config.backtest.json").read_text())
    config["context"]["key_prefix"] = prefix
    path = tmp / "config.json"
    path.write_text(json.dumps(config))
    argv = [
        "--config", str(path), "--pairs", *PAIRS, "--timerange", TIMERANGE,
        "--markets", "snapshot", "--provider", "llm", "--seeds", "1", "--no-certificate",
        "--out", str(tmp / "out"), "--json", "--mask-sample", "3", *extra,
    ]  # fmt: skip
    return run_child("evaluate", argv, env, **kw)


@pytest.fixture(scope="module")
def paid_evaluation(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, env: dict[str, str]
) -> Iterator[Paid]:
    tmp, prefix = tmp_path_factory.mktemp("paid-evaluation"), f"t{uuid.uuid4().hex[:12]}"
    run = evaluate(tmp, prefix, env, "--yes")
    assert run.code == 0, run.err[-3000:]
    yield Paid(tmp, prefix, run, json.loads(run.out), [])
    wipe(redis_url, prefix)


def gated(result: dict[str, Any]) -> dict[str, Any]:
    return next(v for v in result["variants"] if v["name"] == "gated:llm")


def test_evaluate_without_consent_prints_the_estimate_and_writes_nothing(
    tmp_path: Path, prefix: str, env: dict[str, str]
) -> None:
    refused = evaluate(tmp_path, prefix, env)
    assert refused.code == 2 and refused.calls == 0, refused.err[-2000:]
    assert "mask sample of gated:llm, masked: 3 asks" in refused.err
    assert "mask sample of gated:llm, unmasked: 3 asks, 3 in the replay cache" in refused.err
    assert "random~llm (1 seed): $0 (calls no LLM)" in refused.err
    assert refused.err.strip().splitlines()[-1].startswith("evaluate: this run would make")
    assert not (tmp_path / "out").exists()


def test_evaluate_reports_masking_agreement_cost_and_cutoff(paid_evaluation: Paid) -> None:
    run, result = paid_evaluation.run, paid_evaluation.result
    llm = result["llm"]
    [sample] = llm["mask_agreement"]
    # the unmasked sample is the run's own question: answered from the cache
    assert run.masked_calls == 3 and sample["from_replay_cache"] == {"masked": 0, "unmasked": 3}
    assert run.unmasked_calls == run.calls - 3 > 0
    assert sample["candles"] == sample["answered_both"] == 3 and sample["seed"] == 7
    assert 0 <= sample["agreement_rate"] <= 1 and sample["mean_abs_confidence_diff"] >= 0
    cost = llm["cost_usd"]
    assert cost["mask_sample"] == pytest.approx(3 * (900 * 0.4 + 40 * 1.6) / 1e6)
    assert cost["variants"]["gated:llm"] == pytest.approx(gated(result)["llm_cost_usd"])
    assert llm["charged_usd"] == pytest.approx(cost["total"])
    assert llm["estimate"]["calls"] > 0 and llm["consent"] == "--yes"
    assert llm["training_cutoff"] == "2024-06-01"
    assert any("training cutoff 2024-06-01" in w for w in result["warnings"])
    html = Path(result["files"]["html"]).read_text()
    assert "Masked against unmasked" in html and "LLM spend" in html
    assert "training cutoff <b>2024-06-01</b>" in html


def test_evaluate_rerun_costs_nothing_and_gives_the_same_figures(
    paid_evaluation: Paid, env: dict[str, str]
) -> None:
    first = paid_evaluation.result
    again = evaluate(paid_evaluation.tmp, paid_evaluation.prefix, env)  # all cached: no --yes
    assert again.code == 0 and again.calls == 0, again.err[-3000:]
    rerun = json.loads(again.out)
    figures = [{k: v for k, v in f.items() if k != "seconds"} for f in rerun["variants"]]
    assert figures[0] == {k: v for k, v in first["variants"][0].items() if k != "seconds"}
    assert gated(rerun)["trades"] == gated(first)["trades"] and gated(rerun)["llm_cost_usd"] == 0
    # the same trades, no longer paying for the verdicts
    expected = gated(first)["profit_abs"] + gated(first)["llm_cost_usd"]
    assert gated(rerun)["profit_abs"] == pytest.approx(expected, abs=1e-6)
    [sample_again] = rerun["llm"]["mask_agreement"]
    [sample] = first["llm"]["mask_agreement"]
    assert sample_again["agreement_rate"] == sample["agreement_rate"]
    assert sample_again["from_replay_cache"] == {"masked": 3, "unmasked": 3}
    assert rerun["llm"]["charged_usd"] == 0


def test_evaluate_counts_garbage_answers_in_the_masked_sample_as_fallbacks(
    tmp_path: Path, prefix: str, env: dict[str, str]
) -> None:
    run = evaluate(tmp_path, prefix, env, "--yes", garbage_masked=True)
    assert run.code == 0, run.err[-3000:]
    result = json.loads(run.out)
    [sample] = result["llm"]["mask_agreement"]
    assert sample["answered_both"] == 0 and sample["agreement_rate"] is None
    assert sum(sample["fallbacks"]["masked"].values()) == 3 and not sample["fallbacks"]["unmasked"]
    assert set(sample["fallbacks"]["masked"]) <= {"malformed_tool_call", "breaker_open"}
    assert run.masked_calls >= 1  # asked (until the breaker opened), never a crash
    assert gated(result)["trades"] > 0  # the evaluation itself is whole
