"""`fleet pause|resume`: the kill switch reaches each bot's Freqtrade API with the fleet login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard.fakebot import PASSWORD, USERNAME, FakeBot
from loopback import free_port

from context_service.fleet import cli
from deploy.fleet_helpers import edit_fleet, write_env


@pytest.fixture
def bots(project: Path) -> Iterator[dict[str, FakeBot]]:
    """The two example bots, served on loopback at the ports bots.yaml names."""
    running = {"btc-trend": FakeBot("btc-trend").start(), "alt-swing": FakeBot("alt-swing").start()}

    def ports(data: dict) -> None:
        for bot in data["bots"]:
            bot["api_port"] = running[bot["id"]].port

    edit_fleet(project, ports)
    write_env(
        project / "docker/env/fleet.env",
        FREQTRADE__API_SERVER__USERNAME=USERNAME,
        FREQTRADE__API_SERVER__PASSWORD=PASSWORD,
    )
    yield running
    for bot in running.values():
        bot.stop()


def test_pause_all_then_resume_one(project: Path, bots, capsys) -> None:
    assert cli.main(["--root", str(project), "pause"]) == 0
    assert {b.state for b in bots.values()} == {"paused"}
    out = capsys.readouterr().out
    assert "btc-trend" in out and "alt-swing" in out and "no more entries" in out
    assert cli.main(["--root", str(project), "resume", "--bot", "alt-swing"]) == 0
    assert bots["alt-swing"].state == "running" and bots["btc-trend"].state == "paused"


def test_unreachable_or_refused_bots_are_reported_and_the_rest_still_paused(
    project: Path, bots, capsys
) -> None:
    edit_fleet(project, lambda d: d["bots"][0].__setitem__("api_port", free_port()))
    write_env(
        project / "docker/env/fleet.env",
        FREQTRADE__API_SERVER__USERNAME=USERNAME,
        FREQTRADE__API_SERVER__PASSWORD=PASSWORD,
    )
    assert cli.main(["--root", str(project), "pause"]) == 1
    out = capsys.readouterr().out
    assert "btc-trend" in out and "FAILED" in out
    assert bots["alt-swing"].state == "paused"
    write_env(project / "docker/env/fleet.env", FREQTRADE__API_SERVER__PASSWORD="wrong")
    assert cli.main(["--root", str(project), "resume", "--bot", "alt-swing"]) == 1
    assert "Unauthorized" in capsys.readouterr().out
    assert bots["alt-swing"].state == "paused"
