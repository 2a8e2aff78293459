"""Kill switch: pause (no new entries, exits still handled) or resume bots via their REST API.

``pause`` is Freqtrade's ``/stopbuy`` (state *paused*: open trades are still managed and
exited); ``resume`` is ``/start``. The login is the FreqUI login from the shared env file; the
bots are reached on their loopback ports, where compose publishes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests
from freqtrade_client import FtRestClient

from context_service.fleet.botapi import bot_url
from context_service.fleet.envfiles import read_env_file
from context_service.fleet.model import Fleet

LOCAL_URL_TEMPLATE = "http://127.0.0.1:{port}"


@dataclass(frozen=True)
class SwitchResult:
    bot_id: str
    ok: bool
    message: str


def _login(fleet: Fleet, root: Path) -> tuple[str | None, str | None]:
    path = fleet.shared_env_file
    values = read_env_file(root / path)
    return (
        values.get("FREQTRADE__API_SERVER__USERNAME"),
        values.get("FREQTRADE__API_SERVER__PASSWORD"),
    )


def switch(
    fleet: Fleet,
    root: Path,
    action: str,
    bot_id: str | None = None,
    url_template: str = LOCAL_URL_TEMPLATE,
    timeout_s: float = 5.0,
) -> list[SwitchResult]:
    """Apply ``action`` ("pause" or "resume") to one bot or every bot; never stops half-way."""
    if action not in ("pause", "resume"):
        raise ValueError(f"unknown action {action!r}")
    username, password = _login(fleet, root)
    bots = [fleet.bot(bot_id)] if bot_id else list(fleet.bots)
    return [
        switch_bot(bot.id, bot_url(url_template, bot), username, password, action, timeout_s)
        for bot in bots
    ]


def switch_bot(
    bot_id: str,
    url: str,
    username: str | None,
    password: str | None,
    action: str,
    timeout_s: float = 5.0,
) -> SwitchResult:
    """Apply ``action`` to the bot at ``url`` (also what the monitor's automatic stop uses)."""
    if action not in ("pause", "resume"):
        raise ValueError(f"unknown action {action!r}")
    client = FtRestClient(url, username, password, timeout=timeout_s)
    try:
        answer = client.stopbuy() if action == "pause" else client.start()
    except (requests.RequestException, ValueError) as exc:
        answer = {"detail": type(exc).__name__}
    finally:
        client._session.close()
    if isinstance(answer, dict) and "status" in answer:
        return SwitchResult(bot_id, True, str(answer["status"]))
    detail = answer.get("detail") if isinstance(answer, dict) else "no answer"
    return SwitchResult(bot_id, False, f"failed: {detail or 'no answer'}")
