"""The fleet file refuses what would make two bots collide or trade the wrong thing."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from context_service.fleet.model import FleetFileError, load_fleet, parse_fleet

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "bots.example.yaml").read_text(encoding="utf-8"))


def _with(change) -> dict:
    data = copy.deepcopy(EXAMPLE)
    change(data)
    return data


def test_example_fleet_file_is_valid() -> None:
    fleet = load_fleet(REPO / "bots.example.yaml")
    assert [b.id for b in fleet.bots] == ["btc-trend", "alt-swing"]
    assert all(b.dry_run for b in fleet.bots)
    assert fleet.bot("alt-swing").timeframe == "4h"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("id", "duplicate bot id: btc-trend"),
        ("account", "duplicate account: ctxbtc01"),
        ("api_port", "duplicate port: 8081"),
        ("env_file", "duplicate env_file: docker/env/btc-trend.env"),
    ],
)
def test_duplicates_are_refused_with_the_value(field: str, message: str) -> None:
    data = _with(lambda d: d["bots"][1].__setitem__(field, d["bots"][0][field]))
    with pytest.raises(FleetFileError, match=message):
        parse_fleet(data)


def test_bot_port_may_not_take_the_dashboard_port() -> None:
    data = _with(lambda d: d["bots"][0].__setitem__("api_port", 8787))
    with pytest.raises(FleetFileError, match="duplicate port: 8787"):
        parse_fleet(data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", "BTC_Trend", "invalid bot id"),
        ("pairs", ["BTC-USDT"], "must look like BTC/USDT"),
        ("pairs", ["BTC/EUR"], "quoted in USDT"),
        ("timeframe", "7m", "timeframe"),
        ("budget_usdt", 0, "budget_usdt"),
        ("api_port", 80, "api_port"),
        ("account", "sub account", "sub-account name"),
        ("unknown_key", 1, "unknown_key"),
    ],
)
def test_bad_values_name_the_bot_and_field(field: str, value, message: str) -> None:
    data = _with(lambda d: d["bots"][0].__setitem__(field, value))
    with pytest.raises(FleetFileError, match=message) as info:
        parse_fleet(data)
    assert "bots.0" in str(info.value)


def test_missing_file_says_to_copy_the_example(tmp_path: Path) -> None:
    with pytest.raises(FleetFileError, match=r"copy bots\.example\.yaml"):
        load_fleet(tmp_path / "bots.yaml")


def test_broken_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bots.yaml"
    path.write_text("bots: [\n", encoding="utf-8")
    with pytest.raises(FleetFileError, match="not valid YAML"):
        load_fleet(path)


def test_unknown_bot_lists_the_known_ones() -> None:
    fleet = parse_fleet(EXAMPLE)
    with pytest.raises(FleetFileError, match="known: btc-trend, alt-swing"):
        fleet.bot("eth")
