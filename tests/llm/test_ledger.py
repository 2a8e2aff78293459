"""The cost ledger: reserve-then-settle never lets spend pass a cap, even under concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import redis
import respx
from verdicts.support import CHAT_URL, NOW, completion, make_request, make_settings, verdict_call

from context_service.alerts import AlertSink
from context_service.keys import Keyspace
from context_service.llm.ledger import BudgetExhausted, CostLedger
from context_service.settings import Settings


def ledger(redis_client: redis.Redis, keyspace: Keyspace, **caps: str) -> CostLedger:
    settings = make_settings(**{k: Decimal(v) for k, v in caps.items()})
    return CostLedger(redis_client, keyspace, settings, AlertSink(settings, redis_client, keyspace))


def test_reserve_settle_refunds_the_unused_part(redis_client, keyspace) -> None:
    book = ledger(redis_client, keyspace, cap_bot_daily_usd="0.01")
    reservation = book.reserve("bot-1", 6_000, NOW)  # 0.006 USD worst case
    assert book.status("bot-1", NOW)["bot-daily"]["reserved_usd"] == pytest.approx(0.006)

    book.settle(reservation, 1_500)

    status = book.status("bot-1", NOW)
    assert status["bot-daily"]["spent_usd"] == pytest.approx(0.0015)
    assert status["bot-daily"]["reserved_usd"] == 0
    assert status["global-daily"]["spent_usd"] == pytest.approx(0.0015)
    assert status["monthly"]["spent_usd"] == pytest.approx(0.0015)


@pytest.mark.parametrize("cap", ["cap_bot_daily_usd", "cap_global_daily_usd", "cap_monthly_usd"])
def test_a_reservation_that_would_pass_any_cap_charges_nothing(
    redis_client, keyspace, cap: str
) -> None:
    book = ledger(redis_client, keyspace, **{cap: "0.005"})
    book.reserve("bot-1", 4_000, NOW)

    with pytest.raises(BudgetExhausted) as refused:
        book.reserve("bot-1", 2_000, NOW)

    assert refused.value.cap.name == cap.removeprefix("cap_").removesuffix("_usd").replace("_", "-")
    status = book.status("bot-1", NOW)
    assert all(entry["reserved_usd"] == pytest.approx(0.004) for entry in status.values())


def test_alerts_fire_once_at_80_and_100_percent(redis_client, keyspace) -> None:
    book = ledger(redis_client, keyspace, cap_bot_daily_usd="0.01")
    book.settle(book.reserve("bot-1", 8_500, NOW), 8_500)  # 85 %
    book.settle(book.reserve("bot-1", 100, NOW), 100)  # still 86 %: no second alert
    with pytest.raises(BudgetExhausted):
        book.reserve("bot-1", 5_000, NOW)

    keys = sorted(a.key for a in book.alerts.active())  # type: ignore[union-attr]
    assert keys == [
        "cap:bot-daily:bot-1/2022-03-01:100",
        "cap:bot-daily:bot-1/2022-03-01:80",
    ]
    critical = next(a for a in book.alerts.active() if a.key.endswith(":100"))  # type: ignore[union-attr]
    assert critical.level == "critical" and critical.bot_id == "bot-1"


def _slow_ok(request: httpx.Request) -> httpx.Response:
    time.sleep(0.02)  # keep calls in flight so reservations overlap
    return httpx.Response(200, json=completion([verdict_call()]))


@pytest.mark.parametrize(
    ("caps", "bots"),
    [
        ({"cap_bot_daily_usd": Decimal("0.003")}, ["bot-1"]),
        ({"cap_global_daily_usd": Decimal("0.003")}, ["bot-1", "bot-2", "bot-3"]),
        ({"cap_monthly_usd": Decimal("0.003")}, ["bot-1", "bot-2"]),
    ],
    ids=["bot-daily", "global-daily", "monthly"],
)
def test_50_concurrent_verdicts_never_pass_a_cap(
    make_service, llm_mock: respx.MockRouter, caps: dict, bots: list[str]
) -> None:
    route = llm_mock.post(CHAT_URL).mock(side_effect=_slow_ok)
    service = make_service(**caps)
    requests = [make_request(i, bot_id=bots[i % len(bots)]) for i in range(50)]

    with ThreadPoolExecutor(max_workers=50) as pool:
        verdicts = list(pool.map(service.decide, requests))

    by_llm = [v for v in verdicts if v.source == "llm"]
    fallen = [v for v in verdicts if v.source == "rules"]
    # each call really costs 424 micro-dollars: at most 7 fit under 0.003 USD
    assert 1 <= len(by_llm) <= 7 and len(by_llm) + len(fallen) == 50
    assert route.call_count == len(by_llm)  # a refused reservation makes no call
    assert all(v.fallback_reason == "replay:miss; llm:budget_exhausted" for v in fallen)
    cap_name = next(iter(caps)).removeprefix("cap_").removesuffix("_usd").replace("_", "-")
    limit = float(next(iter(caps.values())))
    spent = sum(v.cost_usd for v in by_llm)
    statuses = [service.components.ledger.status(bot, NOW) for bot in bots]
    if cap_name == "bot-daily":
        ledger_spent = statuses[0]["bot-daily"]["spent_usd"]
    else:
        ledger_spent = statuses[0][cap_name]["spent_usd"]
    assert ledger_spent == pytest.approx(spent, abs=1e-6)
    assert ledger_spent <= limit
    assert all(entry["reserved_usd"] == 0 for s in statuses for entry in s.values())
    assert any(a.key.endswith(":100") for a in service.components.alerts.active())


def test_each_bot_is_held_to_its_own_daily_cap(redis_client, keyspace, monkeypatch) -> None:
    # The fleet file's per-bot llm_daily_usd reaches the sidecar as JSON in this variable.
    monkeypatch.setenv("CTX_CAP_BOT_DAILY_USD_BY_BOT", '{"thrifty": "0.002"}')
    settings = Settings(_env_file=None, cap_bot_daily_usd=Decimal("0.01"))
    assert settings.bot_daily_cap("thrifty") == Decimal("0.002")
    book = CostLedger(redis_client, keyspace, settings)

    book.reserve("thrifty", 2_000, NOW)
    with pytest.raises(BudgetExhausted) as refused:
        book.reserve("thrifty", 1, NOW)  # its own cap is full
    assert refused.value.cap.name == "bot-daily"
    book.reserve("generous", 9_000, NOW)  # the default cap still applies to the others
    assert book.status("thrifty", NOW)["bot-daily"]["cap_usd"] == pytest.approx(0.002)


def test_a_bad_per_bot_cap_is_refused_with_the_bot_named() -> None:
    with pytest.raises(ValueError, match="invalid bot id 'Bad Bot'"):
        Settings(_env_file=None, cap_bot_daily_usd_by_bot={"Bad Bot": Decimal("1")})
