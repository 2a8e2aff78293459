"""The verdict-provider surface: a provider defined here, registered by name, answers over HTTP
and in process; a broken one is skipped; bad names are refused with the registered choices."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from context_service.api import create_app
from context_service.backtest.run import parse_args
from context_service.client.inprocess import InProcessContextClient
from context_service.contract import Action, Verdict
from context_service.verdicts import cli
from context_service.verdicts.provider import (
    Ask,
    Decision,
    ProviderSkipped,
    VerdictProvider,
    register,
    unregister,
)
from verdicts.support import make_request

TOKEN = "plugin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Contrarian(VerdictProvider):
    """Buys only deep oversold RSI; skips when the request has no opinion to give."""

    name = "contrarian"
    summary = "buys only when RSI is deeply oversold"
    needs = "nothing"
    fallback = "rules"

    def __init__(self) -> None:
        self.asked: list[Ask] = []

    def decide(self, ask: Ask) -> Decision:
        self.asked.append(ask)
        rsi = ask.request.snapshot.rsi
        if rsi == 50:
            raise ProviderSkipped("neutral", "RSI exactly 50", audit={"rsi": rsi})
        if rsi < 25:
            return Decision(Action.buy, 0.7, "RSI deeply oversold", audit={"rsi": rsi})
        return Decision(Action.hold, 0.6, "RSI not oversold")


class Broken(VerdictProvider):
    name = "broken"

    def decide(self, ask: Ask) -> Decision:
        raise ZeroDivisionError("a plug-in bug")


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    register(Contrarian)
    register(Broken)
    yield
    unregister("contrarian")
    unregister("broken")


def test_a_registered_provider_answers_in_process(make_service) -> None:
    service = make_service(llm=False, verdict_provider="contrarian")
    client = InProcessContextClient(service)

    oversold = client.decide(make_request(0, rsi=20.0))
    calm = client.decide(make_request(1, rsi=60.0))

    assert (oversold.source, oversold.action, oversold.confidence) == ("contrarian", "buy", 0.7)
    assert (calm.source, calm.action) == ("contrarian", "hold")
    assert oversold.fallback_reason is None
    provider = service.provider("contrarian")
    assert isinstance(provider, Contrarian) and len(provider.asked) == 2
    # It saw the synthesized context, the snapshot included.
    assert "ta:BTC/USDT:1h" in provider.asked[0].known_evidence_ids
    entry = service.components.memory.bot("bot-1").audit.query(kind="verdict")[-1]
    assert entry.payload["chain"] == ["contrarian", "rules", "hold"]


def test_its_skip_falls_back_along_its_own_chain_with_the_reason_and_audit(make_service) -> None:
    service = make_service(llm=False, verdict_provider="contrarian")

    verdict = service.decide(make_request(0, rsi=50.0))

    assert verdict.source == "rules"
    assert verdict.fallback_reason == "contrarian:neutral"
    entry = service.components.memory.bot("bot-1").audit.query(kind="verdict")[-1]
    assert entry.payload["providers"] == {"contrarian": {"rsi": 50.0}}


def test_a_registered_provider_answers_over_http(make_service) -> None:
    service = make_service(llm=False, verdict_provider="contrarian", api_token=TOKEN)
    with TestClient(create_app(service=service)) as http:
        response = http.post(
            "/v1/verdicts", json=make_request(0, rsi=20.0).model_dump(mode="json"), headers=AUTH
        )
        assert response.status_code == 200, response.text
        verdict = Verdict.model_validate(response.json())
        assert (verdict.source, verdict.action) == ("contrarian", "buy")
        recent = http.get("/v1/bots/bot-1/verdicts", headers=AUTH).json()
        assert recent[0]["source"] == "contrarian"


def test_a_provider_that_raises_is_skipped_as_an_error(make_service) -> None:
    service = make_service(llm=False)

    verdict = service.decide(make_request(), ["broken", "rules"])

    assert verdict.source == "rules"
    assert verdict.fallback_reason == "broken:error"
    # The next request is served normally.
    assert service.decide(make_request(1), ["contrarian"]).source == "contrarian"


def test_re_registering_a_name_replaces_the_built_provider(make_service) -> None:
    service = make_service(llm=False, verdict_provider="contrarian")
    assert service.decide(make_request(0, rsi=20.0)).action == "buy"

    class AlwaysHold(Contrarian):
        def decide(self, ask: Ask) -> Decision:
            return Decision(Action.hold, 0.9, "changed my mind")

    register(AlwaysHold)
    assert service.decide(make_request(1, rsi=20.0)).rationale == "changed my mind"


@pytest.mark.parametrize("name", ["oracle", "Rules", "rules\n", "", "x" * 40, "llm;rm"])
def test_an_unknown_or_malformed_provider_name_is_refused(make_service, name) -> None:
    with pytest.raises(ValueError, match="provider"):
        make_service(llm=False, verdict_provider=name)
    assert make_service(llm=False, verdict_provider="contrarian").decide(make_request()).source


def test_a_verdict_source_must_be_a_provider_name() -> None:
    verdict = Verdict(
        verdict_id="v-1",
        bot_id="bot-1",
        pair="BTC/USDT",
        candle_time=make_request().candle_time,
        action=Action.hold,
        confidence=0.5,
        rationale="x",
        source="contrarian",
    )
    for bad in ("rules\n", "RULES", "a" * 33, ""):
        with pytest.raises(ValueError):
            Verdict.model_validate({**verdict.model_dump(), "source": bad})


def test_the_cli_lists_every_registered_provider(capsys) -> None:
    assert cli.main(["providers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names)
    assert {"replay", "llm", "rules", "hold", "contrarian"} <= set(names)
    [llm] = [line for line in lines if line.startswith("llm ")]
    assert "spends money" in llm and "falls back to rules" in llm
    [mine] = [line for line in lines if line.startswith("contrarian ")]
    assert "free" in mine and "RSI is deeply oversold" in mine


def test_backtest_provider_accepts_any_registered_name(capsys) -> None:
    assert parse_args(["--provider", "contrarian"]).provider == "contrarian"
    with pytest.raises(SystemExit):
        parse_args(["--provider", "oracle"])
    assert "registered:" in capsys.readouterr().err
