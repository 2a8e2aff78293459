"""check-key: real ccxt KuCoin client, KuCoin's HTTP answers served by a requests transport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from context_service.kucoin import keycheck
from context_service.kucoin.keycheck import KeyCheckError, check_key, evaluate_key

KEY, SECRET, PASSPHRASE = "6523aa11bb22", "0f1e2d3c-secret", "my-passphrase"
ENV = {
    keycheck.ENV_KEY: KEY,
    keycheck.ENV_SECRET: SECRET,
    keycheck.ENV_PASSWORD: PASSPHRASE,
}


def record(**overrides: Any) -> dict[str, Any]:
    """KuCoin's key record for a safe sub-account key."""
    data = {
        "uid": 2210111,
        "subName": "bot1sub",
        "remark": "freqtrade bot 1",
        "apiKey": KEY,
        "apiVersion": 3,
        "permission": "General,Spot",
        "ipWhitelist": "203.0.113.7",
        "isMaster": False,
        "createdAt": 1700000000000,
    }
    data.update(overrides)
    return data


class KuCoinTransport(BaseAdapter):
    """Answers KuCoin API requests from a script; keeps every request for inspection."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__()
        self.status, self.body = status, body
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):  # type: ignore[override]
        self.requests.append(request)
        response = requests.Response()
        response.status_code = self.status
        response.url = request.url
        response.request = request
        response.headers["Content-Type"] = "application/json"
        body = self.body if isinstance(self.body, str) else json.dumps(self.body)
        response._content = body.encode()
        return response

    def close(self) -> None:
        pass


def exchange_answering(status: int, body: Any):
    exchange = keycheck.make_exchange(KEY, SECRET, PASSPHRASE)
    transport = KuCoinTransport(status, body)
    exchange.session.mount("https://", transport)
    return exchange, transport


def test_safe_sub_account_key_passes_and_request_is_signed() -> None:
    exchange, transport = exchange_answering(200, {"code": "200000", "data": record()})
    report = check_key(exchange=exchange)
    assert report.ok, report.problems
    assert report.sub_name == "bot1sub" and report.permissions == ["General", "Spot"]
    assert report.warnings == []
    sent = transport.requests[-1]
    assert sent.method == "GET" and sent.path_url == "/api/v1/user/api-key"
    headers = sent.headers
    assert headers["KC-API-KEY"] == KEY
    # KuCoin v2 signing: base64(HMAC-SHA256(secret, timestamp + method + path + body))
    prehash = headers["KC-API-TIMESTAMP"] + "GET" + "/api/v1/user/api-key"
    expected = hmac.new(SECRET.encode(), prehash.encode(), hashlib.sha256).digest()
    assert headers["KC-API-SIGN"] == base64.b64encode(expected).decode()
    # the passphrase never travels in clear text with v2 keys
    assert headers["KC-API-PASSPHRASE"] != PASSPHRASE


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"isMaster": True, "subName": None}, "MASTER"),
        ({"permission": "General,Spot,Withdrawal"}, "Withdrawal"),
        ({"permission": "General,Spot,Transfer"}, "Transfer"),
        ({"permission": "General,Spot,InnerTransfer"}, "InnerTransfer"),
        ({"permission": "General,Spot,Margin"}, "Margin"),
        ({"permission": "General,Futures"}, "Futures"),
        ({"permission": "General,Spot,Earn"}, "Earn"),
        ({"permission": "General"}, "lacks the spot"),
        ({"permission": ""}, "no permission list"),
        ({"isMaster": None, "subName": None}, "cannot tell"),
    ],
)
def test_unsafe_keys_are_refused(overrides: dict[str, Any], problem: str) -> None:
    exchange, _ = exchange_answering(200, {"code": "200000", "data": record(**overrides)})
    report = check_key(exchange=exchange)
    assert not report.ok
    assert any(problem in p for p in report.problems), report.problems


def test_missing_ip_whitelist_is_a_warning_not_a_refusal() -> None:
    report = evaluate_key(record(ipWhitelist=""))
    assert report.ok
    assert any("IP whitelist" in w for w in report.warnings)


def test_permission_names_are_case_and_space_insensitive() -> None:
    assert evaluate_key(record(permission=" general , SPOT ")).ok
    assert evaluate_key(record(permission=["General", "Spot"])).ok


def test_kucoin_rejecting_the_key_cannot_pass() -> None:
    exchange, _ = exchange_answering(401, {"code": "400003", "msg": "KC-API-KEY not exists"})
    with pytest.raises(KeyCheckError, match=r"rejected|denied|error"):
        check_key(exchange=exchange)


def test_unexpected_answer_cannot_pass() -> None:
    exchange, _ = exchange_answering(200, {"code": "200000", "data": None})
    with pytest.raises(KeyCheckError):
        check_key(exchange=exchange)


def test_credentials_come_only_from_the_environment() -> None:
    with pytest.raises(KeyCheckError, match="FREQTRADE__EXCHANGE__SECRET"):
        keycheck.credentials_from_env({keycheck.ENV_KEY: KEY, keycheck.ENV_PASSWORD: "x"})
    assert keycheck.credentials_from_env(ENV) == (KEY, SECRET, PASSPHRASE)


def test_cli_exit_codes_and_no_secret_in_output(monkeypatch, capsys) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    answers = iter(
        [
            (200, {"code": "200000", "data": record()}),
            (200, {"code": "200000", "data": record(permission="General,Spot,Withdrawal")}),
        ]
    )
    real_make = keycheck.make_exchange

    def make(key, secret, password, **kwargs):
        exchange = real_make(key, secret, password, **kwargs)
        exchange.session.mount("https://", KuCoinTransport(*next(answers)))
        return exchange

    monkeypatch.setattr(keycheck, "make_exchange", make)
    assert keycheck.main([]) == 0
    assert keycheck.main(["--json"]) == 1
    out = capsys.readouterr().out
    assert "OK" in out and '"ok": false' in out
    assert SECRET not in out and PASSPHRASE not in out
    monkeypatch.delenv(keycheck.ENV_SECRET)
    assert keycheck.main([]) == 2
