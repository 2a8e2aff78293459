"""Verdicts and notable events reach the user through Freqtrade's own RPC (``dp.send_msg``).

The end-to-end test runs the real path: the strategy in dry-run, Freqtrade's DataProvider queue,
Freqtrade's RPCManager with its Webhook module, and an HTTP server receiving the webhook.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import pytest
import respx
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import RunMode
from freqtrade.rpc.rpc_manager import RPCManager

from context_service.client.notify import MAX_MESSAGE, BotNotifier
from strategy.conftest import ASK, SIDECAR, load_strategy, strategy_config
from strategy.helpers import CANDLE, PAIR, snapshot, ta_row, verdict, verdict_json


class Collector(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def test_verdict_messages_name_the_bot_and_guardrail_events() -> None:
    sent = Collector()
    notifier = BotNotifier(sent, "btc-trend")
    capped = verdict(confidence=0.71).model_copy(
        update={"source": "rules", "fallback_reason": "replay:miss; llm:budget_exhausted"}
    )
    notifier.verdict(capped)
    assert sent[0].startswith(
        "[btc-trend] verdict buy on BTC/USDT (entry, candle 2022-03-01 10:00Z)"
    )
    assert "confidence 0.71, from rules" in sent[0] and "budget_exhausted" in sent[0]
    assert (
        sent[1]
        == "[btc-trend] LLM cost cap reached: verdicts come from the rules until the period ends"
    )


def test_only_refusals_of_note_are_sent() -> None:
    sent = Collector()
    notifier = BotNotifier(sent, "bot-1")
    notifier.refusal(PAIR, "verdict hold")
    notifier.refusal(PAIR, "confidence below minimum")
    notifier.refusal(PAIR, "no verdict for this candle")
    assert sent == []
    notifier.refusal(PAIR, "daily loss limit", "daily loss limit: realized -5.2 today (limit -5)")
    notifier.refusal(PAIR, "engine unavailable")
    assert sent == [
        "[bot-1] entry refused on BTC/USDT: daily loss limit: realized -5.2 today (limit -5)",
        "[bot-1] entry refused on BTC/USDT: engine unavailable",
    ]


def test_hostile_text_becomes_one_bounded_line_and_a_failing_send_is_harmless() -> None:
    sent = Collector()
    BotNotifier(sent, "bot-1").event("line\nbreak\r\x1b[31m" + "x" * 10_000)
    (message,) = sent
    assert "\n" not in message and "\r" not in message and len(message) == MAX_MESSAGE

    def broken(message: str) -> None:
        raise RuntimeError("telegram down")

    BotNotifier(broken, "bot-1").event("still fine")  # logged, not raised


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook_url() -> Iterator[str]:
    _Webhook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_dry_run_verdict_reaches_the_configured_webhook(
    sidecar_settings, no_db, webhook_url: str
) -> None:
    config = strategy_config()
    config["webhook"] = {
        "enabled": True,
        "url": webhook_url,
        "format": "json",
        "allow_custom_messages": True,
        "strategy_msg": {"text": "{msg}"},
    }
    strategy = load_strategy(config)
    dp = DataProvider(config, None)
    assert dp.runmode == RunMode.DRY_RUN
    strategy.dp = dp
    now = CANDLE + timedelta(hours=1, minutes=2)
    lease = {"status_code": 200, "json": {"held": True}}
    with respx.mock(base_url=SIDECAR, assert_all_called=False) as router:
        router.post("/v1/leases/bot-1").mock(side_effect=lambda request: httpx.Response(**lease))
        router.post(ASK).respond(200, json=verdict_json(confidence=0.82))
        strategy.bot_start()
        strategy.state.set_candidates(PAIR, "entry", {int(CANDLE.timestamp()): ta_row()})
        strategy.bot_loop_start(current_time=now)
        lease.update(status_code=409, json={"held": False, "holder": "bot-2"})  # taken
        strategy.ctx.renew_lease()  # what the next loop does after its renewal interval
        assert not strategy.confirm_trade_entry(
            PAIR, "limit", 0.0005, 40_000.0, "GTC", now, None, "long"
        )

    rpc = RPCManager(SimpleNamespace(config=config))
    rpc.process_msg_queue(dp._msg_queue)
    texts = [body["text"] for body in _Webhook.received]
    assert any("[bot-1] verdict buy on BTC/USDT" in t and "confidence 0.82" in t for t in texts)
    assert any("lease" in t and "NOT held" in t and "leased by 'bot-2'" in t for t in texts)
    assert any("entry refused on BTC/USDT: sub-account lease not held" in t for t in texts)
    assert snapshot().pair == PAIR


def test_backtests_send_nothing(sidecar_settings) -> None:
    config = strategy_config()
    config["runmode"] = RunMode.BACKTEST
    dp = DataProvider(config, None)
    dp.send_msg("anything")
    assert not dp._msg_queue  # Freqtrade itself drops strategy messages outside dry-run/live
