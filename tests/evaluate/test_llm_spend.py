"""The parts of a paid backtest or evaluation, each on its own: the estimate's prompt count
against the real provider's reservation, the arithmetic, consent, the run cap, the masked
sample's comparison and the training cutoff (integration: test_llm_runs.py)."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal

import pytest
import respx
from verdicts.support import (
    CHAT_URL,
    NOW,
    T0,
    make_request,
    make_settings,
    ok_response,
)

from context_service.backtest.consent import (
    SpendOptions,
    SpendProblem,
    consent,
    mask_sample_arg,
    max_usd_arg,
)
from context_service.backtest.cutoff import cutoff_warning, training_cutoff
from context_service.backtest.dry_llm import DryTally, PromptCount, dry_llm_provider
from context_service.backtest.estimate import (
    SpendEstimate,
    cached_prefix_tokens,
    format_estimate,
    line_estimate,
)
from context_service.backtest.llm_chain import chain_spend, registered_as, replay_first
from context_service.backtest.run_cap import RunLedger, RunSpend, run_capped_provider
from context_service.keys import Keyspace
from context_service.llm.ledger import BudgetExhausted
from context_service.llm.pricing import ModelPrice
from context_service.llm_options import CapabilityOverride
from context_service.verdicts.provider import Decision, provider_class


def llm_audit(service) -> dict:
    [entry] = service.components.memory.bot("bot-1").audit.query(kind="verdict")
    return entry.payload["providers"]["llm"]


# --- the estimate counts what the ledger reserves ------------------------------------------------


@pytest.mark.parametrize(("masking", "adjustments"), [(False, False), (True, False), (False, True)])
def test_dry_prompt_count_is_the_real_providers_reservation(
    make_service, llm_mock: respx.MockRouter, masking: bool, adjustments: bool
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    settings = {"llm_masking": masking, "apply_adjustments": adjustments}
    service = make_service(**settings)
    assert service.decide(make_request(bot_id="bot-1")).source == "llm"
    reserved = llm_audit(service)["estimated_prompt_tokens"]

    tally = DryTally()
    with registered_as(dry_llm_provider(provider_class("llm"), tally)):
        dry = make_service(**settings)
        verdict = dry.decide(make_request(bot_id="bot-2"))  # an empty memory like bot-1's
    assert verdict.source == "rules" and "llm:estimate_only" in (verdict.fallback_reason or "")
    assert route.call_count == 1  # the dry provider called nothing
    [count] = tally.counts
    assert count.tokens == reserved and count.method == "o200k_base"
    assert count.candidate == "entry" and 0 < count.prefix_tokens < count.tokens
    assert (count.masked_tokens if masking else count.unmasked_tokens) == count.tokens
    assert provider_class("llm").__name__ == "LLMProvider"  # the original is back


def test_a_paid_chain_asks_the_replay_cache_first(monkeypatch: pytest.MonkeyPatch) -> None:
    on, off = make_settings(), make_settings(llm_enabled=False)
    assert replay_first("llm") == "replay" and replay_first("rules") == "rules"
    paid = chain_spend("llm", on)
    assert paid.chain == ["replay", "llm", "rules", "hold"] and paid.spenders == ["llm"]
    assert paid.start == "replay" and paid.priced
    assert chain_spend("replay", on).spends  # replay falls back to the paid LLM
    assert not chain_spend("llm", off).spends  # the LLM is off: nothing can spend
    assert not chain_spend("rules", on).spends and chain_spend("rules", on).start == "rules"


# --- arithmetic ----------------------------------------------------------------------------------


PRICE = ModelPrice(Decimal("0.4"), Decimal("1.6"), Decimal("0.1"))


def count(tokens: int, prefix: int, candidate: str = "entry") -> PromptCount:
    return PromptCount(candidate, tokens, tokens - 50, tokens, prefix, "o200k_base")


def test_cost_of_calls_with_and_without_the_prefix_cache() -> None:
    assert cached_prefix_tokens(1023) == 0 and cached_prefix_tokens(1024) == 1024
    assert cached_prefix_tokens(1300) == 1280  # 128-token steps
    counts = [count(1000, 400), count(1500, 1300, "exit")]
    line = line_estimate("gated:llm", 5, counts, PRICE, 300)
    assert (line.asks, line.cached, line.calls) == (5, 3, 2)
    assert line.calls_by_candidate == {"entry": 1, "exit": 1}
    assert line.prompt_tokens == 2500 and line.cached_prompt_tokens == 1280
    # micro-dollars: 2500 * 0.4 + 2 * 300 * 1.6 = 1960; the cache saves 1280 * (0.4 - 0.1)
    assert line.usd_no_cache == pytest.approx(1960e-6)
    assert line.usd == pytest.approx((1960 - 384) * 1e-6)
    masked = line_estimate("sample", 2, counts, PRICE, 300, masked=True)
    assert masked.prompt_tokens == 2400
    estimate = SpendEstimate(
        "gpt-4.1-mini", PRICE, "o200k_base", [line, masked], 20, ["r (1 seed)"]
    )
    assert estimate.calls == 4 and not estimate.free
    text = "\n".join(format_estimate(estimate))
    assert "gated:llm: 5 asks, 3 in the replay cache -> 2 calls (entry 1, exit 1)" in text
    assert "r (1 seed): $0" in text and "total: 4 calls" in text and "o200k_base" in text
    assert estimate.as_dict()["usd_no_cache"] == pytest.approx(2 * 1960e-6 - 100 * 0.4e-6)


# --- consent -------------------------------------------------------------------------------------


def estimate_of(calls: int, price: ModelPrice = PRICE) -> SpendEstimate:
    line = line_estimate("gated:llm", calls, [count(1000, 0)] * calls, price, 300)
    return SpendEstimate("gpt-4.1-mini", price, "o200k_base", [line], 20)


def never(question: str) -> str:
    raise AssertionError("nobody is asked")


def test_consent_without_yes_or_cap_is_refused_before_any_call() -> None:
    with pytest.raises(SpendProblem) as refused:
        consent(estimate_of(3), [], SpendOptions(), never)
    message = str(refused.value)
    assert "\n" not in message and "--yes" in message and "--max-usd" in message
    assert "3 LLM calls" in message and "nothing was called" in message
    assert consent(estimate_of(3), [], SpendOptions(yes=True), never) == "--yes"
    assert consent(estimate_of(3), [], SpendOptions(max_usd=Decimal("1")), never) == "cap"


def test_free_models_and_cached_runs_need_no_consent() -> None:
    free = ModelPrice(Decimal(0), Decimal(0), Decimal(0))
    assert consent(estimate_of(3, free), [], SpendOptions(), never) == "free"
    assert consent(estimate_of(0), [], SpendOptions(), never).startswith("nothing to call")


def test_a_terminal_user_is_asked() -> None:
    asked: list[str] = []

    def answer(reply: str):
        def ask(question: str) -> str:
            asked.append(question)
            return reply

        return ask

    options = SpendOptions(interactive=True)
    assert consent(estimate_of(2), [], options, answer(" y\n")) == "answered yes"
    assert "2 LLM calls? [y/N]" in asked[0]
    with pytest.raises(SpendProblem):
        consent(estimate_of(2), [], options, answer("\x1b[A"))  # anything else is a no


def test_unpriced_plug_ins_need_yes() -> None:
    with pytest.raises(SpendProblem, match="spend money in their own way"):
        consent(None, ["oracle"], SpendOptions(max_usd=Decimal("5")), never)
    assert consent(None, ["oracle"], SpendOptions(yes=True), never) == "--yes"


@pytest.mark.parametrize(
    "text", ["nan", "NaN", "inf", "-1", "0", "0.0", "1e3", "10001", "1\n", " 1", "", "x" * 10_000]
)
def test_max_usd_refuses_what_is_not_a_positive_amount(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        max_usd_arg(text)
    assert "positive number of USD" in str(refused.value) and len(str(refused.value)) < 200


@pytest.mark.parametrize("text", ["1000000000", "1001", "-1", "nan", "1.5", "3\n", ""])
def test_mask_sample_refuses_what_is_not_a_small_count(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"from 0 \(off\) to 1000"):
        mask_sample_arg(text)


def test_good_amounts_and_counts_pass() -> None:
    assert max_usd_arg("2.50") == Decimal("2.50") and max_usd_arg("10000") == Decimal(10000)
    assert mask_sample_arg("0") == 0 and mask_sample_arg("1000") == 1000


# --- the run cap ---------------------------------------------------------------------------------


def test_run_ledger_keeps_reservations_and_charges_under_the_cap(
    make_service, redis_client, keyspace: Keyspace
) -> None:
    service = make_service()
    run = RunSpend(Decimal("0.002"))
    key = keyspace.ledger_run(run.run_id)
    ledger = RunLedger(service.components.ledger, redis_client, key, run.cap_micros)
    ledger.settle(ledger.reserve("bot-1", 1500, NOW), 400)
    ledger.settle(ledger.reserve("bot-1", 1500, NOW), 1500)  # 400 + 1500 fits under 2000
    assert int(redis_client.get(key)) == 1900 and not ledger.refused
    with pytest.raises(BudgetExhausted, match="run cap"):
        ledger.reserve("bot-1", 200, NOW)
    assert ledger.refused and int(redis_client.get(key)) == 1900  # nothing was kept
    assert service.components.ledger.open_reservations() == 0
    bot_day = service.components.ledger.status("bot-1", NOW)["bot-daily"]["spent_usd"]
    assert bot_day == pytest.approx(1900e-6)  # the ledger's own caps were charged too
    ledger.settle(ledger.reserve("bot-1", 100, NOW), 50)  # a call that fits still goes
    assert int(redis_client.get(key)) == 1950


def test_the_capped_provider_falls_back_at_the_cap_and_says_why(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    tiny = RunSpend(Decimal("0.0001"))  # below one call's reservation
    with registered_as(run_capped_provider(provider_class("llm"), tiny)):
        verdict = make_service().decide(make_request())
    assert verdict.source == "rules" and verdict.fallback_reason == "replay:miss; llm:run_cap"
    assert route.call_count == 0 and tiny.spent_usd(None, "") == 0  # type: ignore[arg-type]
    enough = RunSpend(Decimal("1"))
    with registered_as(run_capped_provider(provider_class("llm"), enough)):
        service = make_service()
        assert service.decide(make_request(1)).source == "llm"
    charged = (900 * 0.4 + 40 * 1.6) / 1e6  # the reported usage
    assert route.call_count == 1
    assert enough.spent_usd(None, "") == pytest.approx(charged)  # type: ignore[arg-type]


def test_a_skip_after_a_cap_refusal_keeps_its_own_reason(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    run = RunSpend(Decimal("0.0001"))
    with registered_as(run_capped_provider(provider_class("llm"), run)):
        service = make_service(rate_bot_per_minute=1)
        first = service.decide(make_request(0))  # counted by the rate limit, refused by the cap
        second = service.decide(make_request(1))  # refused by the rate limit, before any reserve
    assert first.fallback_reason == "replay:miss; llm:run_cap"
    assert second.fallback_reason == "replay:miss; llm:rate_limited_bot"
    assert route.call_count == 0


# --- the masked sample ---------------------------------------------------------------------------


def test_masked_and_unmasked_answers_are_compared_on_candles_both_answered() -> None:
    from context_service.evaluate.mask_check import ModeAnswers, agreement_warning, compare

    class FakeAsk:
        def __init__(self, i: int) -> None:
            self.request = make_request(i)

    sample = [FakeAsk(i) for i in range(4)]
    buy, hold = Decision("buy", 0.8, "x"), Decision("hold", 0.5, "x")
    masked = ModeAnswers({0: buy, 1: buy, 2: hold})
    masked.fallbacks["invalid_tool_call"] += 1
    unmasked = ModeAnswers({0: Decision("buy", 0.6, "x"), 1: hold, 2: hold, 3: buy})
    result = compare(sample, masked, unmasked)  # type: ignore[arg-type]
    assert result["answered_both"] == 3 and result["same_action"] == 2
    assert result["agreement_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["mean_abs_confidence_diff"] == pytest.approx((0.2 + 0.3) / 3, abs=1e-4)
    assert result["fallbacks"]["masked"] == {"invalid_tool_call": 1}
    assert [row["candle"] for row in result["rows"]] == [(T0.replace(hour=1)).isoformat()]
    assert "agree on only 67 %" in (agreement_warning("gated:llm", result) or "")
    none = compare(sample, ModeAnswers(), unmasked)  # type: ignore[arg-type]
    assert none["agreement_rate"] is None and agreement_warning("gated:llm", none) is None


def test_the_sample_is_seeded_distinct_and_in_time_order() -> None:
    from context_service.evaluate.mask_check import sample_asks
    from context_service.verdicts.provider import Ask

    asks = [Ask(make_request(i % 40), None, NOW, {}) for i in range(60)]  # type: ignore[arg-type]
    first = sample_asks(asks, 10)
    again = sample_asks(list(reversed(asks)), 10)
    times = [a.request.candle_time for a in first]
    assert times == [a.request.candle_time for a in again] == sorted(set(times))
    assert len(sample_asks(asks, 1000)) == 40 and sample_asks(asks, 0) == []


# --- the training cutoff -------------------------------------------------------------------------


def test_training_cutoffs_come_from_the_capability_table() -> None:
    assert training_cutoff("gpt-4.1-mini-2025-04-14") == date(2024, 6, 1)
    assert training_cutoff("openai/gpt-4o-mini") == date(2023, 10, 1)
    assert training_cutoff("gpt-5-mini") == date(2024, 5, 31)  # not gpt-5's
    assert training_cutoff("gpt-4-0613") == date(2021, 9, 1)
    assert training_cutoff("gpt-4-turbo-2024-04-09") == date(2023, 12, 1)
    assert training_cutoff("gpt-4.5-preview") == date(2023, 10, 1)
    assert training_cutoff("my-local-model") is None
    declared = {"my-local-model": CapabilityOverride(training_cutoff=date(2023, 3, 1))}
    assert training_cutoff("my-local-model", declared) == date(2023, 3, 1)
    with pytest.raises(ImportError):
        import context_service.evaluate.cutoffs  # noqa: F401  (the duplicate table is gone)


def test_cutoff_warnings() -> None:
    cutoff, warning = cutoff_warning("gpt-4.1-mini", date(2023, 1, 16))
    assert cutoff == date(2024, 6, 1) and warning and "memorization" in warning
    assert "2023-01-16" in warning and "2024-06-01" in warning
    assert cutoff_warning("gpt-4.1-mini", date(2024, 6, 2)) == (date(2024, 6, 1), None)
    unknown = cutoff_warning("mystery\n" + "x" * 500, date(2030, 1, 1))
    assert unknown[0] is None and "unknown" in (unknown[1] or "")
    assert "CTX_LLM_CAPABILITIES" in (unknown[1] or "") and len(unknown[1] or "") < 500
