"""``GET /v1/bots/{bot_id}/adjustments``: what is in force as of a time, and every suggestion
with its fate; hostile query values get a 422 and the next good request still works."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from verdicts.support import CHAT_URL, T0, completion, make_request, tool_call, verdict_call

from context_service.api import create_app

TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(make_service, llm_mock: respx.MockRouter) -> Iterator[TestClient]:
    pause = {
        "parameter": "pause_pair",
        "value": None,
        "pair": "BTC/USDT",
        "expires_in_hours": 4,
        "reason": "exchange outage reported",
    }
    calls = [verdict_call(), tool_call("suggest_adjustment", pause, call_id="c2")]
    llm_mock.post(CHAT_URL).mock(return_value=httpx.Response(200, json=completion(calls)))
    service = make_service(api_token=TOKEN, apply_adjustments=True)
    service.decide(make_request(as_of=True))
    with TestClient(create_app(service=service), headers=AUTH) as test_client:
        yield test_client


def test_in_force_as_of_a_time_and_the_suggestions(client: TestClient) -> None:
    during = client.get(
        "/v1/bots/bot-1/adjustments", params={"as_of": (T0 + timedelta(hours=1)).isoformat()}
    )
    after = client.get(
        "/v1/bots/bot-1/adjustments", params={"as_of": (T0 + timedelta(hours=4)).isoformat()}
    )
    assert during.status_code == 200, during.text
    body = during.json()
    assert body["enabled"] is True
    [pause] = body["in_force"]
    assert pause["parameter"] == "pause_pair" and pause["pair"] == "BTC/USDT"
    assert pause["expires_at"].startswith("2022-03-01T04:00")
    assert body["suggestions"][0]["accepted"] is True
    assert after.json()["in_force"] == []


@pytest.mark.parametrize(
    "as_of", ["9999-12-31T00:00:00Z", "not-a-time", "2022-03-01T00:00:00", "1900-01-01T00:00:00Z"]
)
def test_a_bad_as_of_is_a_422_and_the_next_request_works(client: TestClient, as_of: str) -> None:
    bad = client.get("/v1/bots/bot-1/adjustments", params={"as_of": as_of})
    assert bad.status_code == 422, bad.text
    good = client.get("/v1/bots/bot-1/adjustments", params={"as_of": T0.isoformat()})
    assert good.status_code == 200 and len(good.json()["in_force"]) == 1


def test_another_bots_id_with_a_trailing_newline_is_refused(client: TestClient) -> None:
    assert client.get("/v1/bots/bot-1%0A/adjustments").status_code in (404, 422)
    assert client.get("/v1/bots/bot-1/adjustments").status_code == 200


@pytest.mark.parametrize(
    "limits",
    [
        '{"min_confidence": [NaN, 0.9]}',
        '{"stake_fraction": [0.5, 5]}',
        '{"stake_fraction": [0, 1]}',
        '{"pause_pair": {"max_hours": 1e309}}',
        '{"pause_pair": {"max_hours": 87600000}}',
        '{"stop_loss": [0.1, 0.2]}',
        '"loose"',
    ],
)
def test_hostile_limits_in_a_verdict_request_are_a_422_and_the_next_works(
    client: TestClient, limits: str
) -> None:
    body = make_request(i=1, as_of=True).model_dump_json(exclude={"adjustment_limits"})
    bad = body[:-1] + f', "adjustment_limits": {limits}}}'
    headers = {**AUTH, "Content-Type": "application/json"}
    refused = client.post("/v1/verdicts", content=bad, headers=headers)
    assert refused.status_code == 422, refused.text
    assert "adjustment_limits" in refused.text
    good = client.post("/v1/verdicts", content=body, headers=headers)
    assert good.status_code == 200, good.text
    assert [a["parameter"] for a in good.json()["adjustments"]] == ["pause_pair"]
