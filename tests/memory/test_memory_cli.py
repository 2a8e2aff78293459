"""``python -m context_service memory ...``: readable for a trader, strict about input."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from context_service.__main__ import main as cli_main
from context_service.keys import Keyspace
from context_service.memory import Memory
from context_service.settings import get_settings

from .conftest import T0, closed_event, fill_event


@pytest.fixture
def cli(monkeypatch, redis_url: str, keyspace: Keyspace, memory: Memory):
    monkeypatch.setenv("CTX_REDIS_URL", redis_url)
    get_settings.cache_clear()
    bot = memory.bot("bot-a")
    bot.record_trade_event(fill_event(1, confidence=0.91, verdict_id="v-1"))
    for n, profit in enumerate([2.0, -1.0, 0.5], start=1):
        bot.record_trade_event(
            closed_event(n, profit, exit_reason="roi" if profit > 0 else "stop_loss")
        )
    bot.record_llm_cost(T0, 0.004, "v-1")
    bot.audit.append("verdict", {"action": "buy", "confidence": 0.91}, at=T0)

    def run(*args: str) -> int:
        return cli_main(["memory", *args, "--key-prefix", keyspace.prefix])

    yield run
    get_settings.cache_clear()


def test_stats_table(cli, capsys) -> None:
    assert cli("stats", "--bot", "bot-a") == 0
    out = capsys.readouterr().out
    assert "Bot bot-a, as of now" in out
    assert re.search(r"closed trades +3\n", out)
    assert re.search(r"wins / losses / even +2 / 1 / 0\n", out)
    assert re.search(r"LLM cost \(USD\) +0\.0040\n", out)
    assert re.search(r"PnL net of fees and LLM +\+1\.50\n", out)  # 1.5 - 0.004
    for section in ("By pair", "By entry hour (UTC)", "By exit reason", "By verdict confidence"):
        assert section in out
    assert "stop_loss" in out and ">=0.9" in out
    assert "Insights" in out


def test_stats_json_as_of(cli, capsys) -> None:
    as_of = (T0 + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")  # no offset: UTC
    assert cli("stats", "--bot", "bot-a", "--as-of", as_of, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["trades"] == 2
    assert document["net_pnl"] == 1.0
    assert document["as_of"] == "2024-05-03T14:00:00Z"
    assert document["insights"] == []


def test_audit_at_a_moment(cli, capsys) -> None:
    assert cli("audit", "--bot", "bot-a", "--at", "2024-05-03T12:03Z", "--window", "5") == 0
    out = capsys.readouterr().out
    assert "2024-05-03 12:00:00 UTC  verdict" in out and '"action": "buy"' in out
    assert cli("audit", "--bot", "bot-a", "--at", "2024-05-04T12:00Z") == 0
    assert "No audit entries" in capsys.readouterr().out


def test_insights_command(cli, capsys) -> None:
    assert cli("insights", "--bot", "bot-a", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stats", "--bot", "Bot_1"), "invalid bot id 'Bot_1'"),
        (("stats", "--bot", "bot-a", "--as-of", "yesterday"), "bad time 'yesterday'"),
        (("audit", "--bot", "bot-a", "--at", "14h05"), "bad time '14h05'"),
    ],
)
def test_bad_input_gives_a_clear_error(cli, capsys, args, message) -> None:
    assert cli(*args) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err


def test_unreachable_redis_is_reported(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CTX_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    try:
        assert cli_main(["memory", "stats", "--bot", "bot-a"]) == 1
    finally:
        get_settings.cache_clear()
    assert "cannot reach Redis" in capsys.readouterr().err


def test_audit_kind_filter_applies_before_the_limit(cli, memory: Memory, capsys) -> None:
    audit = memory.bot("bot-a").audit
    for second in range(5):
        audit.append("synthesis", {"n": second}, at=T0 + timedelta(seconds=second + 1))
    audit.append("verdict", {"action": "sell"}, at=T0 + timedelta(seconds=10))
    args = ("audit", "--bot", "bot-a", "--at", "2024-05-03T12:00Z", "--kind", "verdict")
    assert cli(*args, "--limit", "2", "--json") == 0
    actions = [e["payload"]["action"] for e in json.loads(capsys.readouterr().out)]
    assert actions == ["buy", "sell"]


def test_reading_an_unknown_bot_does_not_create_it(cli, memory: Memory, capsys) -> None:
    assert cli("stats", "--bot", "typo-bot", "--json") == 0
    assert json.loads(capsys.readouterr().out)["trades"] == 0
    assert memory.bot_ids() == ["bot-a"]
