"""The adjustment rules themselves: limits, the shape of each parameter, and what is in force
at a moment (point in time, newest wins, expiry, the bot's limits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from context_service.adjustments import DEFAULT_LIMITS, Adjustment, AdjustmentLimits, in_force

T = datetime(2022, 3, 1, 12, tzinfo=UTC)


def made(
    parameter: str = "min_confidence",
    value: float | None = 0.7,
    pair: str | None = None,
    at: datetime = T,
    hours: float = 6,
    verdict_id: str = "v1",
) -> Adjustment:
    return Adjustment(
        parameter=parameter,
        value=value,
        pair=pair,
        made_at=at,
        expires_at=at + timedelta(hours=hours),
        verdict_id=verdict_id,
    )


def test_an_adjustment_is_in_force_from_when_it_was_made_until_it_expires() -> None:
    adjustment = made(hours=2)
    assert in_force([adjustment], T - timedelta(seconds=1)).all() == []  # not made yet
    assert in_force([adjustment], T).min_confidence == adjustment
    assert in_force([adjustment], T + timedelta(hours=2) - timedelta(seconds=1)).all()
    assert in_force([adjustment], T + timedelta(hours=2)).all() == []  # [T, T + 2 h)


def test_the_newest_of_a_parameter_wins_even_once_it_has_expired() -> None:
    old = made(value=0.8, hours=24)
    new = made(value=0.7, at=T + timedelta(hours=1), hours=1, verdict_id="v2")
    assert in_force([old, new], T + timedelta(minutes=90)).min_confidence == new
    assert in_force([new, old], T + timedelta(minutes=30)).min_confidence == old  # new not yet
    # The newest expired: the older one it replaced does not come back.
    assert in_force([old, new], T + timedelta(hours=3)).all() == []


def test_made_at_the_same_moment_the_most_cautious_wins() -> None:
    pairs = [
        (made(value=0.7), made(value=0.8, verdict_id="v2"), 0.8),
        (made("stake_fraction", 0.5), made("stake_fraction", 0.3, verdict_id="v2"), 0.3),
    ]
    for a, b, wanted in pairs:
        for order in ([a, b], [b, a]):
            found = in_force(order, T)
            chosen = found.min_confidence or found.stake_fraction
            assert chosen is not None and chosen.value == wanted


def test_pauses_are_per_pair_and_shortened_to_the_limits() -> None:
    btc = made("pause_pair", None, "BTC/USDT", hours=48)
    sol = made("pause_pair", None, "SOL/USDT", hours=2)
    limits = AdjustmentLimits.model_validate({"pause_pair": {"max_hours": 6}})
    assert set(in_force([btc, sol], T + timedelta(hours=1), limits).paused) == {
        "BTC/USDT",
        "SOL/USDT",
    }
    assert set(in_force([btc, sol], T + timedelta(hours=7), limits).paused) == set()
    assert set(in_force([btc, sol], T + timedelta(hours=7)).paused) == {"BTC/USDT"}


def test_outside_the_limits_an_adjustment_is_dropped_with_why() -> None:
    limits = DEFAULT_LIMITS.resolved(0.6)  # raise only, up to 0.9
    found = in_force([made(value=0.5), made("stake_fraction", 0.1)], T, limits)
    assert found.all() == []
    assert [why for _, why in found.dropped] == [
        "min_confidence 0.5 outside the bot's limits [0.6, 0.9]",
        "stake_fraction 0.1 outside the bot's limits [0.25, 1]",
    ]
    off = AdjustmentLimits.model_validate({"pause_pair": False})
    paused = in_force([made("pause_pair", None, "BTC/USDT")], T, off)
    assert paused.paused == {} and "not adjustable" in paused.dropped[0][1]


def test_resolving_the_limits_against_the_bots_threshold() -> None:
    assert DEFAULT_LIMITS.resolved(0.65).min_confidence == (0.65, 0.9)
    assert DEFAULT_LIMITS.resolved(0.95).min_confidence == (0.95, 0.95)  # nothing to raise to
    explicit = AdjustmentLimits.model_validate({"min_confidence": [0.5, 0.8]})
    assert explicit.resolved(0.65) == explicit


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"value": float("nan")}, "finite"),
        ({"value": 1.5}, r"not in 0\.\.1"),
        ({"parameter": "stake_fraction", "value": 0.0}, r"not in \(0, 1\]"),
        ({"parameter": "pause_pair", "value": None}, "needs a pair"),
        ({"parameter": "pause_pair", "value": None, "pair": "BTC/USDT\n"}, "pattern"),
        ({"pair": "BTC/USDT"}, "takes no pair"),
        ({"parameter": "stop_loss"}, "Input should be"),
        ({"expires_at": datetime(9999, 1, 1, tzinfo=UTC)}, "in the future"),
        ({"expires_at": T}, "after made_at"),
        ({"reason": "x" * 501}, "at most 500"),
    ],
)
def test_a_stored_adjustment_is_validated_like_any_boundary_model(fields, message) -> None:
    data = {
        "parameter": "min_confidence",
        "value": 0.7,
        "pair": None,
        "made_at": T,
        "expires_at": T + timedelta(hours=1),
        "verdict_id": "v1",
        **fields,
    }
    with pytest.raises(ValidationError, match=message):
        Adjustment.model_validate(data)


@pytest.mark.parametrize(
    "section",
    [
        {"min_confidence": [0.9, 0.5]},
        {"min_confidence": [0.5, 1.5]},
        {"stake_fraction": [0, 1]},
        {"stake_fraction": [0.5, 2]},
        {"pause_pair": {"max_hours": 0}},
        {"pause_pair": {"max_hours": float("inf")}},
        {"pause_pair": {"max_hours": 24 * 366}},
        {"stop_loss": [0.1, 0.2]},
    ],
)
def test_limits_out_of_range_are_refused(section) -> None:
    with pytest.raises(ValidationError):
        AdjustmentLimits.model_validate(section)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"CTX_APPLY_ADJUSTMENTS": "true"}, True),
        ({"CTX_ALLOW_ADJUSTMENTS": "true"}, True),  # the deprecated name, still read
    ],
)
def test_adjustments_are_off_unless_asked_for(monkeypatch, env, expected) -> None:
    from context_service.settings import Settings

    for name in ("CTX_APPLY_ADJUSTMENTS", "CTX_ALLOW_ADJUSTMENTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.apply_adjustments is expected and settings.allow_adjustments is expected


def test_a_bad_switch_or_expiry_setting_is_refused(monkeypatch) -> None:
    from context_service.settings import Settings

    monkeypatch.setenv("CTX_APPLY_ADJUSTMENTS", "maybe")
    with pytest.raises(ValidationError, match="apply_adjustments"):
        Settings(_env_file=None)
    monkeypatch.delenv("CTX_APPLY_ADJUSTMENTS")
    for hours in ("0", "nan", "169"):
        monkeypatch.setenv("CTX_ADJUSTMENT_MAX_HOURS", hours)
        with pytest.raises(ValidationError, match="adjustment_max_hours"):
            Settings(_env_file=None)
