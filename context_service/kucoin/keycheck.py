"""``python -m context_service check-key``: is this KuCoin key safe for a trading bot?

Reads the key's own record from KuCoin (``GET /api/v1/user/api-key``, ccxt's
``privateGetUserApiKey``; the response carries ``subName``, ``isMaster``, ``permission`` as a
comma-separated list such as ``"General,Spot"``, and ``ipWhitelist``) and refuses unless:

* the key belongs to a **sub-account** (``isMaster`` false, ``subName`` set), and
* its permissions are **only** General and Spot (an allow-list: withdrawal, transfer, margin,
  futures, earn or anything unknown is refused).

It warns when no IP whitelist is set. Credentials come only from the environment
(``FREQTRADE__EXCHANGE__KEY`` / ``__SECRET`` / ``__PASSWORD``); they are never printed.
Exit codes: 0 safe, 1 refused, 2 could not check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ENV_KEY = "FREQTRADE__EXCHANGE__KEY"
ENV_SECRET = "FREQTRADE__EXCHANGE__SECRET"
ENV_PASSWORD = "FREQTRADE__EXCHANGE__PASSWORD"

ALLOWED_PERMISSIONS = {"general", "spot"}
REQUIRED_PERMISSIONS = {"spot"}


class KeyCheckError(Exception):
    """The key could not be checked (missing credentials, KuCoin error, bad response)."""


@dataclass
class KeyReport:
    """The verdict on a key: ``ok`` only when there are no problems."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sub_name: str | None = None
    is_master: bool | None = None
    permissions: list[str] = field(default_factory=list)
    ip_whitelist: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "sub_name": self.sub_name,
            "is_master": self.is_master,
            "permissions": self.permissions,
            "ip_whitelist_entries": len(self.ip_whitelist),
        }


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
    if isinstance(value, list | tuple):
        return [str(p).strip() for p in value if str(p).strip()]
    raise KeyCheckError(f"unexpected field type {type(value).__name__} in the key record")


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def evaluate_key(record: Mapping[str, Any]) -> KeyReport:
    """Judge KuCoin's key record (the ``data`` object of ``GET /api/v1/user/api-key``)."""
    if not isinstance(record, Mapping):
        raise KeyCheckError("KuCoin's key record is not an object")
    report = KeyReport()
    report.sub_name = (str(record.get("subName") or "").strip()) or None
    report.is_master = _flag(record.get("isMaster"))
    report.permissions = _split(record.get("permission", record.get("permissions")))
    report.ip_whitelist = _split(record.get("ipWhitelist"))

    if report.is_master is True:
        report.problems.append(
            "the key belongs to the MASTER account: create a trade-only key on a dedicated "
            "sub-account that holds only this bot's budget"
        )
    elif report.is_master is None and not report.sub_name:
        report.problems.append(
            "cannot tell whether the key belongs to a sub-account (no isMaster/subName in "
            "KuCoin's answer): refusing to trade with it"
        )
    elif report.is_master is False and not report.sub_name:
        report.warnings.append("KuCoin reports a non-master key without a sub-account name")

    granted = {p.lower() for p in report.permissions}
    if not report.permissions:
        report.problems.append("KuCoin returned no permission list for the key")
    extra = sorted(p for p in report.permissions if p.lower() not in ALLOWED_PERMISSIONS)
    if extra:
        report.problems.append(
            f"the key has permissions beyond General and Spot: {', '.join(extra)}. "
            "Edit the key (or create a new one) with only General + Spot trading; "
            "never withdrawal, transfer, margin or futures"
        )
    missing = sorted(REQUIRED_PERMISSIONS - granted)
    if report.permissions and missing:
        report.problems.append(f"the key lacks the {', '.join(missing)} trade permission")

    if not report.ip_whitelist:
        report.warnings.append(
            "no IP whitelist: restrict the key to the bot host's IP address(es) in KuCoin's API "
            "management, so a leaked key cannot be used elsewhere"
        )
    return report


def credentials_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    env = os.environ if env is None else env
    values = [env.get(name, "").strip() for name in (ENV_KEY, ENV_SECRET, ENV_PASSWORD)]
    missing = [n for n, v in zip((ENV_KEY, ENV_SECRET, ENV_PASSWORD), values, strict=True) if not v]
    if missing:
        raise KeyCheckError(
            f"set {', '.join(missing)} in the environment (the key, secret and passphrase of "
            "the sub-account's API key); they are never read from config files"
        )
    return values[0], values[1], values[2]


def make_exchange(key: str, secret: str, password: str, *, timeout_ms: int = 10_000):
    """A synchronous ccxt KuCoin client (it signs requests with KuCoin's v2 scheme)."""
    import ccxt

    return ccxt.kucoin(
        {
            "apiKey": key,
            "secret": secret,
            "password": password,
            "timeout": timeout_ms,
            "enableRateLimit": True,
        }
    )


def fetch_key_record(exchange) -> dict[str, Any]:
    """Call ``GET /api/v1/user/api-key``; raise :class:`KeyCheckError` on any failure."""
    import ccxt

    try:
        response = exchange.privateGetUserApiKey()
    except ccxt.AuthenticationError as exc:
        raise KeyCheckError(f"KuCoin rejected the credentials: {exc}") from exc
    except ccxt.PermissionDenied as exc:
        raise KeyCheckError(f"KuCoin denied the request: {exc}") from exc
    except ccxt.NetworkError as exc:
        raise KeyCheckError(f"KuCoin is unreachable: {exc}") from exc
    except ccxt.BaseError as exc:
        raise KeyCheckError(f"KuCoin answered with an error: {exc}") from exc
    if not isinstance(response, dict) or str(response.get("code")) != "200000":
        raise KeyCheckError(f"unexpected answer from KuCoin: {str(response)[:200]}")
    data = response.get("data")
    if not isinstance(data, dict):
        raise KeyCheckError("KuCoin's answer has no key record ('data')")
    return data


def check_key(env: Mapping[str, str] | None = None, exchange=None) -> KeyReport:
    """Read the key from the environment, ask KuCoin about it, judge it."""
    if exchange is None:
        exchange = make_exchange(*credentials_from_env(env))
    return evaluate_key(fetch_key_record(exchange))


def format_report(report: KeyReport) -> str:
    lines = [
        f"KuCoin key check: {'OK' if report.ok else 'REFUSED'}",
        f"  sub-account: {report.sub_name or '-'} (master: {report.is_master})",
        f"  permissions: {', '.join(report.permissions) or '-'}",
        f"  IP whitelist entries: {len(report.ip_whitelist)}",
    ]
    lines += [f"  PROBLEM: {p}" for p in report.problems]
    lines += [f"  warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m context_service check-key",
        description=(
            f"Check that the KuCoin key in {ENV_KEY}/{ENV_SECRET}/{ENV_PASSWORD} belongs to a "
            "sub-account and can only trade spot (no withdrawal, transfer, margin, futures)."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(list(argv or []))
    try:
        report = check_key()
    except KeyCheckError as exc:
        print(f"check-key: cannot check the key: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return 0 if report.ok else 1
