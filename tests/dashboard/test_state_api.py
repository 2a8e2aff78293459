"""`/v1/dashboard/state` through the real sidecar app: token, bots, spend, verdicts, table."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from context_service.api.app import create_app
from dashboard.conftest import TOKEN


@pytest.fixture
def client(seeded_service):
    with TestClient(create_app(service=seeded_service)) as client:
        yield client


def _state(client: TestClient) -> dict:
    response = client.get("/v1/dashboard/state", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_state_needs_the_token_but_the_page_does_not(client: TestClient) -> None:
    assert client.get("/v1/dashboard/state").status_code == 401
    bad = client.get("/v1/dashboard/state", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Fleet dashboard" in page.text
    assert TOKEN not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert (
        client.get("/dashboard/static/app.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/dashboard/static/..%2Fpage.py").status_code == 404


def test_bots_reachability_trades_and_profit(client: TestClient) -> None:
    bots = {b["id"]: b for b in _state(client)["bots"]}
    assert list(bots) == ["alpha", "beta", "gamma"]
    alpha, gamma = bots["alpha"]["status"], bots["gamma"]["status"]
    assert alpha["reachable"] and alpha["state"] == "running"
    assert [t["pair"] for t in alpha["open_trades"]] == ["BTC/USDT"]
    assert alpha["profit_closed_abs"] == 3.25
    assert not gamma["reachable"] and "connection refused" in gamma["error"]


def test_llm_spend_caps_verdicts_and_alerts(client: TestClient) -> None:
    state = _state(client)
    alpha = next(b for b in state["bots"] if b["id"] == "alpha")
    assert alpha["llm"]["spent_today_usd"] == pytest.approx(0.42)
    assert alpha["llm"]["cap_today_usd"] == pytest.approx(0.5)
    assert alpha["llm"]["calls_today"] == 1
    assert [(v["action"], v["source"]) for v in alpha["verdicts"]] == [
        ("buy", "llm"),
        ("hold", "rules"),
    ]
    beta = next(b for b in state["bots"] if b["id"] == "beta")
    assert beta["verdicts"][0]["fallback_reason"] == "llm:cap"
    assert any(
        a["key"].startswith("cap:bot-daily") and a["bot_id"] == "alpha" for a in state["alerts"]
    )
    assert set(state["caps"]) >= {"global-daily", "monthly"}


def test_comparison_nets_llm_cost_and_falls_back_to_memory(client: TestClient) -> None:
    rows = {r["bot_id"]: r for r in _state(client)["comparison"]}
    alpha, gamma = rows["alpha"], rows["gamma"]
    assert alpha["source"] == "freqtrade" and alpha["profit_abs"] == 3.25
    assert alpha["llm_cost_usd"] == pytest.approx(0.42)
    assert alpha["profit_net_of_llm"] == pytest.approx(3.25 - 0.42)
    assert alpha["profit_pct_of_budget"] == pytest.approx(6.5)
    assert alpha["winrate"] == 0.6 and alpha["max_drawdown_abs"] == 1.1
    assert gamma["source"] == "memory" and gamma["profit_abs"] == pytest.approx(1.5)
    assert rows["beta"]["profit_net_of_llm"] == pytest.approx(-0.8)


def test_invalid_fleet_file_is_shown_not_fatal(client: TestClient, fleet_file) -> None:
    fleet_file.write_text("bots: []\n", encoding="utf-8")
    with TestClient(create_app(service=client.app.state.service)) as other:
        state = _state(other)
    assert state["bots"] == [] and "bots" in state["fleet_error"]


def _regime_object(pair: str, scope: str, regime: str, hours_ago: float, timeframe: str):
    from datetime import UTC, datetime, timedelta

    from context_service.regime import RegimeParams
    from context_service.regime.evidence import RegimeReading, regime_evidence

    candle = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    candle -= timedelta(hours=hours_ago)
    reading = RegimeReading(
        scope, pair, timeframe, candle, regime, "down", 1.2, 0.97, 2.1, -0.14, -0.05
    )
    return regime_evidence(reading, RegimeParams(), timedelta(hours=1))


def test_each_bot_shows_its_current_regime_readings(client: TestClient) -> None:
    from context_service.regime import Regime

    service = client.app.state.service
    bots = {b["id"]: b for b in _state(client)["bots"]}
    timeframe = bots["alpha"]["timeframe"]
    service.upsert(
        "alpha",
        [_regime_object("BTC/USDT", "market", Regime.crash, 1, timeframe)],
    )
    service.upsert(
        "beta",
        [_regime_object("BTC/USDT", "market", Regime.crash, 30, timeframe)],  # long expired
    )
    bots = {b["id"]: b for b in _state(client)["bots"]}
    (reading,) = bots["alpha"]["regimes"]
    assert reading["scope"] == "market" and reading["regime"] == "crash"
    assert reading["summary"].startswith("Market regime (via BTC/USDT)")
    assert bots["beta"]["regimes"] == []


def test_each_bot_shows_its_adjustments_in_force_with_their_expiry(client: TestClient) -> None:
    from datetime import timedelta

    from context_service.adjustments import Adjustment

    service = client.app.state.service
    assert all(b["adjustments"] == [] for b in _state(client)["bots"])  # off by default
    service.settings = service.settings.model_copy(update={"apply_adjustments": True})
    now = service.clock()
    book = service.components.adjustments
    keys = service.components.keyspace.bot("alpha")

    def store(parameter, value, pair, hours_ago, hours):
        made = now - timedelta(hours=hours_ago)
        adjustment = Adjustment(
            parameter=parameter, value=value, pair=pair, made_at=made,
            expires_at=made + timedelta(hours=hours), verdict_id=f"v-{parameter}",
            reason="volatile",
        )  # fmt: skip
        book.redis.zadd(keys.adjustments, {adjustment.model_dump_json(): made.timestamp()})
        return adjustment

    pause = store("pause_pair", None, "BTC/USDT", 1, 5)
    store("stake_fraction", 0.5, None, 3, 2)  # expired an hour ago
    bots = {b["id"]: b for b in _state(client)["bots"]}
    assert bots["alpha"]["adjustments"] == [
        {
            "parameter": "pause_pair",
            "value": None,
            "pair": "BTC/USDT",
            "expires_at": pause.expires_at.isoformat().replace("+00:00", "Z"),
            "reason": "volatile",
        }
    ]
    assert bots["beta"]["adjustments"] == []
