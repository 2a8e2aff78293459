"""Replay cache: identical decisions cost nothing and return the identical verdict; dry-run
verdicts export to JSONL and replay in a backtest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import respx

from context_service.settings import get_settings
from context_service.verdicts import cli
from verdicts.support import CHAT_URL, make_request, ok_response


def test_same_decision_twice_costs_nothing_and_is_identical(
    make_service, llm_mock: respx.MockRouter
) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response(action="buy", confidence=0.7))
    service = make_service()

    first = service.decide(make_request())
    second = service.decide(make_request())

    assert route.call_count == 1
    assert first.source == "llm" and second.source == "replay"
    same = (
        "verdict_id",
        "action",
        "confidence",
        "rationale",
        "evidence_ids",
        "context_hash",
        "manifest_id",
        "model",
    )
    assert {k: getattr(second, k) for k in same} == {k: getattr(first, k) for k in same}
    assert second.cost_usd == 0 and second.fallback_reason is None
    usage = service.components.usage.report(service.clock(), "bot-1")["bots"]["bot-1"]["day"]
    assert usage["calls"] == 1 and usage["verdicts_by_source"] == {"llm": 1, "replay": 1}


def test_a_different_candle_or_context_is_a_miss(make_service, llm_mock: respx.MockRouter) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    service = make_service()
    service.decide(make_request(0))
    service.decide(make_request(1))  # another candle
    service.decide(make_request(0, candidate="exit"))  # another question
    assert route.call_count == 3


def test_changing_the_model_invalidates_replay(make_service, llm_mock: respx.MockRouter) -> None:
    route = llm_mock.post(CHAT_URL).mock(return_value=ok_response())
    make_service().decide(make_request())
    other = make_service(llm_model="gpt-4.1-nano")
    assert other.decide(make_request()).source == "llm"
    assert route.call_count == 2


def _cli_env(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.setenv("CTX_REDIS_URL", redis_url)
    get_settings.cache_clear()


def test_export_import_replays_dry_run_verdicts_in_a_backtest(
    make_service, llm_mock: respx.MockRouter, keyspace, redis_url, tmp_path: Path, monkeypatch
) -> None:
    llm_mock.post(CHAT_URL).mock(return_value=ok_response(action="buy", confidence=0.91))
    dry_run = make_service()
    recorded = dry_run.decide(make_request(0, bot_id="dry-1"))
    _cli_env(monkeypatch, redis_url)
    out = tmp_path / "verdicts.jsonl"

    assert (
        cli.main(["export", "--bot", "dry-1", "--out", str(out), "--prefix", keyspace.prefix]) == 0
    )
    assert cli.main(["import", "--bot", "bt-1", "--in", str(out), "--prefix", keyspace.prefix]) == 0

    lines = out.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["verdict"]["verdict_id"] == recorded.verdict_id
    backtest = make_service(llm=False, llm_enabled=False)
    replayed = backtest.decide(make_request(0, bot_id="bt-1"), ["replay", "rules"])
    assert replayed.source == "replay" and replayed.verdict_id == recorded.verdict_id
    assert (replayed.action, replayed.confidence) == ("buy", 0.91)
    get_settings.cache_clear()


def test_import_of_a_bad_file_imports_nothing(
    make_service, keyspace, redis_url, tmp_path: Path, monkeypatch, capsys
) -> None:
    _cli_env(monkeypatch, redis_url)
    good = {
        "key": "a" * 64,
        "verdict": make_service(llm=False)
        .decide(make_request(), ["rules"])
        .model_dump(mode="json"),
    }
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(good) + "\n" + '{"key": "zz", "verdict": {}}\n')

    code = cli.main(["import", "--bot", "bt-2", "--in", str(bad), "--prefix", keyspace.prefix])

    assert code == 2
    assert "line 2" in capsys.readouterr().err
    assert make_service(llm=False).components.replay.size("bt-2") == 0
    assert cli.main(["import", "--bot", "Bad Id!", "--in", str(bad)]) == 2
    get_settings.cache_clear()
