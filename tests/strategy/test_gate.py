"""The verdict gate answers only from verdicts for the exact pair and candle, else refuses."""

from __future__ import annotations

from datetime import timedelta

from context_service.client.base import ContextUnavailable, LeaseStatus
from context_service.client.gate import VerdictGate
from context_service.verdicts.models import Action, Verdict, VerdictRequest
from strategy.helpers import CANDLE, NEXT_CANDLE, PAIR, snapshot, verdict


class ScriptedClient:
    """A client answering from a list of verdicts or exceptions, recording the requests."""

    def __init__(self, *answers: Verdict | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[VerdictRequest] = []

    def decide(self, request: VerdictRequest) -> Verdict:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def record_trade_event(self, event) -> bool:
        return True

    def acquire_lease(self, account: str, holder: str, ttl_s: int = 90) -> LeaseStatus:
        return LeaseStatus(True, holder, "ok")

    def close(self) -> None:
        pass


def gate(*answers: Verdict | Exception, min_confidence: float = 0.6) -> VerdictGate:
    return VerdictGate(ScriptedClient(*answers), "bot-1", min_confidence)


def test_fresh_buy_above_min_confidence_allows_entry_and_asks_point_in_time() -> None:
    g = gate(verdict(Action.buy, 0.8))
    g.fetch(snapshot(), as_of=NEXT_CANDLE)
    answer = g.entry_allowed(PAIR, CANDLE)
    assert answer.allowed and answer.verdict is not None
    request = g.client.requests[0]
    assert request.as_of == NEXT_CANDLE and request.candle_time == CANDLE
    assert g.stats.verdicts_by_source == {"rules": 1}
    assert g.stats.context_tokens == 120


def test_verdict_for_another_candle_does_not_count() -> None:
    g = gate(verdict(Action.buy, 0.9))
    g.fetch(snapshot(), as_of=NEXT_CANDLE)
    later = g.entry_allowed(PAIR, CANDLE + timedelta(hours=1))
    assert not later.allowed and later.reason == "no verdict for this candle"
    assert not g.entry_allowed("SOL/USDT", CANDLE).allowed


def test_hold_sell_and_low_confidence_refuse() -> None:
    for answer, reason in [
        (verdict(Action.hold, 0.9), "verdict hold"),
        (verdict(Action.sell, 0.9), "verdict sell"),
        (verdict(Action.buy, 0.59), "confidence below minimum"),
    ]:
        g = gate(answer)
        g.fetch(snapshot(), as_of=NEXT_CANDLE)
        decision = g.entry_allowed(PAIR, CANDLE)
        assert not decision.allowed
        assert decision.reason == reason


def test_engine_failure_refuses_and_drops_an_older_verdict() -> None:
    g = gate(verdict(Action.buy, 0.9), ContextUnavailable("sidecar timeout"))
    g.fetch(snapshot(), as_of=NEXT_CANDLE)
    # next candle: the engine fails; the old buy must not leak into the new candle
    g.fetch(snapshot(candle=NEXT_CANDLE), as_of=NEXT_CANDLE + timedelta(hours=1))
    assert not g.entry_allowed(PAIR, NEXT_CANDLE).allowed
    assert g.entry_allowed(PAIR, NEXT_CANDLE).reason == "engine unavailable"
    assert not g.entry_allowed(PAIR, CANDLE).allowed  # the old one is gone too
    assert g.stats.unavailable == 1


def test_unexpected_exception_in_client_fails_closed() -> None:
    g = gate(RuntimeError("bug"))
    assert g.fetch(snapshot(), as_of=NEXT_CANDLE) is None
    assert not g.entry_allowed(PAIR, CANDLE).allowed


def test_verdict_answering_another_candle_is_rejected() -> None:
    g = gate(verdict(Action.buy, 0.9, candle=CANDLE - timedelta(hours=1)))
    g.fetch(snapshot(), as_of=NEXT_CANDLE)
    assert not g.entry_allowed(PAIR, CANDLE).allowed


def test_exit_wanted_only_on_confident_sell_for_the_candle() -> None:
    g = gate(verdict(Action.sell, 0.7, candidate="exit"))
    g.fetch(snapshot(), as_of=NEXT_CANDLE, candidate="exit")
    assert g.exit_wanted(PAIR, CANDLE) is not None
    assert g.exit_wanted(PAIR, NEXT_CANDLE) is None
    weak = gate(verdict(Action.sell, 0.3, candidate="exit"))
    weak.fetch(snapshot(), as_of=NEXT_CANDLE, candidate="exit")
    assert weak.exit_wanted(PAIR, CANDLE) is None


def test_same_candle_is_asked_once() -> None:
    g = gate(verdict(Action.buy, 0.9))
    g.fetch(snapshot(), as_of=NEXT_CANDLE)
    g.fetch(snapshot(), as_of=NEXT_CANDLE)  # would raise IndexError if asked twice
    assert len(g.client.requests) == 1


class AskingClient(ScriptedClient):
    """A client with ``ask`` (the HTTP client's shape): ``None`` answers mean pending."""

    def ask(self, request: VerdictRequest) -> Verdict | None:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def decide(self, request: VerdictRequest) -> Verdict:
        raise AssertionError("an asynchronous gate never calls decide")


def test_a_pending_ask_that_then_fails_is_a_failure_until_it_is_pending_again() -> None:
    now = [0.0]
    client = AskingClient(
        None, ContextUnavailable("sidecar restarting"), None, verdict(Action.buy, 0.8)
    )
    g = VerdictGate(client, "bot-1", 0.6, max_wait_s=60, clock=lambda: now[0])
    assert g.asynchronous  # the default
    assert g.fetch(snapshot(), as_of=NEXT_CANDLE) is None
    assert g.is_pending(PAIR, "entry", CANDLE)
    assert g.entry_allowed(PAIR, CANDLE).reason == "verdict pending"
    now[0] = 20.0
    assert g.fetch(snapshot(), as_of=NEXT_CANDLE) is None  # the sidecar went away
    # A failure: the strategy stops asking the other pairs this loop (asks.py).
    assert not g.is_pending(PAIR, "entry", CANDLE)
    assert g.entry_allowed(PAIR, CANDLE).reason == "engine unavailable"
    now[0] = 40.0
    assert g.fetch(snapshot(), as_of=NEXT_CANDLE) is None  # back, working on it again
    assert g.is_pending(PAIR, "entry", CANDLE)
    now[0] = 59.0  # 59 s after the *first* ask: still in time
    assert g.fetch(snapshot(), as_of=NEXT_CANDLE) is not None
    assert g.entry_allowed(PAIR, CANDLE).allowed
    assert len(client.requests) == 4


def test_the_maximum_wait_counts_from_the_first_ask_across_a_failure() -> None:
    now = [0.0]
    client = AskingClient(None, ContextUnavailable("down"), None, verdict(Action.buy, 0.8))
    g = VerdictGate(client, "bot-1", 0.6, max_wait_s=60, clock=lambda: now[0])
    for moment in (0.0, 30.0, 50.0, 61.0):
        now[0] = moment
        g.fetch(snapshot(), as_of=NEXT_CANDLE)
    assert g.entry_allowed(PAIR, CANDLE).reason == "verdict came too late"
