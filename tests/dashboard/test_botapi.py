"""Reading a bot through freqtrade-client's FtRestClient against a Freqtrade-shaped server."""

from __future__ import annotations

from loopback import free_port

from context_service.fleet.botapi import bot_url, fetch_bot_status
from context_service.fleet.model import BotSpec
from dashboard.fakebot import PASSWORD, USERNAME, FakeBot


def _spec(port: int) -> BotSpec:
    return BotSpec(
        id="alpha", account="subalpha", env_file="x.env", budget_usdt=50,
        pairs=("BTC/USDT",), api_port=port,
    )  # fmt: skip


def test_reachable_bot_reports_state_trades_and_profit(fake_bots: dict[str, FakeBot]) -> None:
    bot = fake_bots["alpha"]
    bot.today = -0.5
    spec = _spec(bot.port)
    status = fetch_bot_status(spec, bot_url("http://127.0.0.1:{port}", spec), USERNAME, PASSWORD)
    assert status.reachable and status.error is None
    assert status.state == "running" and status.dry_run is True
    assert [t.pair for t in status.open_trades] == ["BTC/USDT"]
    assert status.open_trades[0].profit_abs == 0.42
    assert status.profit_closed_abs == 3.25 and status.winrate == 0.6
    assert status.max_drawdown_abs == 1.1 and status.today_profit_abs == -0.5
    assert status.max_open_trades == 2


def test_wrong_login_is_unreachable_with_the_reason(fake_bots: dict[str, FakeBot]) -> None:
    spec = _spec(fake_bots["alpha"].port)
    status = fetch_bot_status(spec, f"http://127.0.0.1:{spec.api_port}", USERNAME, "wrong")
    assert not status.reachable and "Unauthorized" in status.error


def test_nothing_listening_is_unreachable() -> None:
    spec = _spec(free_port())
    status = fetch_bot_status(spec, f"http://127.0.0.1:{spec.api_port}", USERNAME, PASSWORD, 1.0)
    assert not status.reachable
    assert status.error == "connection refused or host unreachable"


def test_url_template_for_compose_and_local() -> None:
    spec = _spec(8081)
    assert bot_url("http://bot-{bot_id}:8080", spec) == "http://bot-alpha:8080"
    assert bot_url("http://127.0.0.1:{port}/", spec) == "http://127.0.0.1:8081"
