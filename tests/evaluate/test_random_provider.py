"""The random control gate: registered, deterministic per seed and per decision, on its rates."""

from __future__ import annotations

import functools
import random as stdlib_random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from verdicts.support import make_request

from context_service.contract import Action
from context_service.verdicts.provider import Ask, provider_class
from context_service.verdicts.providers.random import RandomGateParams, RandomProvider, draw

PAIRS = ["BTC/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT"]


def ask(i: int, pair: str = "BTC/USDT", candidate: str = "entry") -> Ask:
    request = make_request(i, pair=pair, candidate=candidate)
    return Ask(request=request, synthesis=None, now=request.candle_time, replay_params={})  # type: ignore[arg-type]


@functools.cache
def many_asks(candidate: str) -> list[Ask]:
    return [ask(i, pair, candidate) for i in range(1500) for pair in PAIRS]  # 6000 decisions


def decisions(provider: RandomProvider, asks: list[Ask]) -> list[Action]:
    return [provider.decide(a).action for a in asks]


def test_registered_under_its_name() -> None:
    assert provider_class("random") is RandomProvider
    assert RandomProvider.reads_context is False
    assert RandomProvider.spends_money is False


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.735, 1.0])
@pytest.mark.parametrize("candidate", ["entry", "exit"])
def test_reproduces_the_target_rate(rate: float, candidate: str) -> None:
    params = RandomGateParams(seed=7, entry_rate=rate, exit_rate=rate)
    provider = RandomProvider(params)
    asks = many_asks(candidate)
    approve = Action.buy if candidate == "entry" else Action.sell
    share = sum(1 for a in decisions(provider, asks) if a == approve) / len(asks)
    assert abs(share - rate) <= 0.02  # binomial sd at 0.5 is 0.0065
    assert all(a in (approve, Action.hold) for a in decisions(provider, asks[:50]))


def test_deterministic_per_seed_and_independent_of_call_order() -> None:
    asks = [ask(i, pair) for i in range(300) for pair in PAIRS]
    params = RandomGateParams(seed=3, entry_rate=0.4, exit_rate=0.4)
    first = dict(zip(map(id, asks), decisions(RandomProvider(params), asks), strict=True))
    shuffled = asks[:]
    stdlib_random.Random(1).shuffle(shuffled)
    again = dict(zip(map(id, shuffled), decisions(RandomProvider(params), shuffled), strict=True))
    assert first == again  # same seed, any order, a fresh instance: the same answers
    other = decisions(RandomProvider(RandomGateParams(seed=4, entry_rate=0.4)), asks)
    assert other != list(first.values())  # another seed is another draw


def test_entry_and_exit_draws_differ_on_one_candle() -> None:
    moment = datetime(2022, 1, 1, tzinfo=UTC)
    assert draw(1, "BTC/USDT", moment, "entry") != draw(1, "BTC/USDT", moment, "exit")
    assert 0.0 <= draw(1, "BTC/USDT", moment, "entry") < 1.0


@pytest.mark.parametrize(
    "field, value", [("entry_rate", float("nan")), ("entry_rate", float("inf")),
                     ("exit_rate", -0.1), ("exit_rate", 1.5), ("seed", -1)],
)  # fmt: skip
def test_bad_parameters_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        RandomGateParams(**{field: value})
    assert RandomGateParams(entry_rate=0.3).entry_rate == 0.3  # the next good one works


def test_reads_its_parameters_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTX_RANDOM_SEED", "11")
    monkeypatch.setenv("CTX_RANDOM_ENTRY_RATE", "0.25")
    provider = RandomProvider.build(None)
    assert provider.params.seed == 11 and provider.params.entry_rate == 0.25
    monkeypatch.setenv("CTX_RANDOM_EXIT_RATE", "nan")
    with pytest.raises(ValidationError):
        RandomProvider.build(None)
