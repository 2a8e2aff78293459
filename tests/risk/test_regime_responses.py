"""Regime responses: configured in the knowledge file, validated, combined in the risk layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_service.knowledge import KnowledgeFileError, load_knowledge_file, load_regime_config
from context_service.regime import Regime
from context_service.risk.regime import (
    NO_ACTION,
    RegimeConfig,
    RegimeResponse,
    RegimeResponseStats,
    respond,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "user_data" / "knowledge" / "strategy.yaml"
OBJECTS = "objects:\n  - {kind: goal, id: g, summary: ok, observed_at: 2021-01-01T00:00:00Z}\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "k.yaml"
    path.write_text(text)
    return path


def test_the_shipped_file_configures_the_three_responses() -> None:
    config = load_regime_config(SHIPPED)
    assert config is not None and config.enabled
    assert config.market_pair == "BTC/USDT"
    high = config.responses[Regime.high_volatility]
    crash = config.responses[Regime.crash]
    assert high.stake_scale < 1 and high.trailing_stop_scale < 1
    assert crash.pause_entries and crash.scope == "market"
    assert load_knowledge_file(SHIPPED)  # the objects still load beside the section


def test_a_file_without_the_section_has_no_responses(tmp_path) -> None:
    assert load_regime_config(_write(tmp_path, OBJECTS)) is None


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("regime: [1, 2]", "regime: must be a mapping"),
        ("regime: {responses: {panic: {pause_entries: true}}}", "unknown regime(s) 'panic'"),
        ("regime: {responses: {crash: {stake_scale: 2}}}", "regime.responses.crash.stake_scale"),
        ("regime: {responses: {crash: {stake_scale: .nan}}}", "stake_scale"),
        ("regime: {responses: {crash: {trailing_stop_scale: 0}}}", "trailing_stop_scale"),
        ("regime: {responses: {crash: {scope: world}}}", "regime.responses.crash.scope"),
        ("regime: {responses: {crash: {pause_entries: maybe}}}", "pause_entries"),
        ("regime: {detection: {crash_drawdown: .inf}}", "regime.detection.crash_drawdown"),
        ("regime: {detection: {rv_window: 99999999}}", "regime.detection.rv_window"),
        ('regime: {market_pair: "BTC/USDT\\n"}', "regime.market_pair"),
        ("regime: {stake: 1}", "regime.stake"),
    ],
)
def test_bad_settings_name_their_place_in_the_file(tmp_path, section, expected) -> None:
    path = _write(tmp_path, OBJECTS + section + "\n")
    with pytest.raises(KnowledgeFileError) as caught:
        load_regime_config(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    # the file fixed, the next load works
    path.write_text(OBJECTS + "regime: {responses: {crash: {pause_entries: true}}}\n")
    assert load_regime_config(path).responses[Regime.crash].pause_entries


def test_a_response_can_only_reduce_risk() -> None:
    with pytest.raises(ValueError):
        RegimeResponse(stake_scale=1.5)
    with pytest.raises(ValueError):
        RegimeResponse(trailing_stop_scale=1.01)


CONFIG = RegimeConfig(
    responses={
        Regime.high_volatility: RegimeResponse(stake_scale=0.5, trailing_stop_scale=0.7),
        Regime.crash: RegimeResponse(
            scope="market", pause_entries=True, stake_scale=0.25, trailing_stop_scale=0.5
        ),
    }
)


def test_normal_and_unknown_regimes_do_nothing() -> None:
    assert respond(CONFIG, "normal", "calm") == NO_ACTION
    assert respond(CONFIG, None, None) == NO_ACTION
    assert respond(CONFIG, "unknown", "unknown") == NO_ACTION
    assert respond(None, "crash", "crash") == NO_ACTION
    assert respond(CONFIG.model_copy(update={"enabled": False}), "crash", "crash") == NO_ACTION


def test_high_volatility_of_the_pair_or_the_market_scales_the_stake() -> None:
    for pair, market in (("high_volatility", "normal"), ("normal", "high_volatility")):
        action = respond(CONFIG, pair, market)
        assert (action.stake_scale, action.trailing_stop_scale) == (0.5, 0.7)
        assert not action.pause_entries and action.active
        assert "high_volatility: stake x0.5, trailing stop x0.7" in action.reasons[0]


def test_a_market_crash_pauses_entries_and_the_most_cautious_part_wins() -> None:
    action = respond(CONFIG, "high_volatility", "crash")
    assert action.pause_entries
    assert action.stake_scale == 0.25 and action.trailing_stop_scale == 0.5
    assert action.reasons == (
        "market crash: entries paused, stake x0.25, trailing stop x0.5",
        "pair high_volatility: stake x0.5, trailing stop x0.7",
    )


def test_a_market_scoped_response_ignores_a_pairs_own_crash() -> None:
    action = respond(CONFIG, "crash", "normal")
    assert not action.pause_entries and action == NO_ACTION


def test_response_counts() -> None:
    stats = RegimeResponseStats()
    action = respond(CONFIG, "normal", "crash")
    stats.record("pause", action)
    stats.record("pause", action)
    stats.record("stop", respond(CONFIG, "high_volatility", "normal"))
    assert stats.as_dict() == {
        "entries_paused": 2,
        "stakes_scaled": 0,
        "stops_tightened": 1,
        "by_regime": {"market crash": 2, "pair high_volatility": 1},
    }
    with pytest.raises(ValueError):
        stats.record("explode", action)
