"""Staged deploys and rollbacks, driven with a fake container engine and the real lease."""

from __future__ import annotations

import pytest
import redis

from context_service.fleet.containers import DockerRunner, canary_of, live_of
from context_service.fleet.deploy import Deployer, DeployFailed, DeployTimings, Phase
from context_service.fleet.model import Fleet, parse_fleet
from context_service.keys import Keyspace

from .fake_containers import Crash, FakeWorld

TIMINGS = DeployTimings(gate_s=60, watch_s=120, switch_timeout_s=30, poll_s=5)


@pytest.fixture
def fleet() -> Fleet:
    return parse_fleet(
        {
            "bots": [
                {
                    "id": "bot-1",
                    "account": "subacc1",
                    "env_file": "docker/env/bot-1.env",
                    "budget_usdt": 100,
                    "pairs": ["BTC/USDT"],
                    "api_port": 8081,
                }
            ]
        }
    )


@pytest.fixture
def world(redis_client: redis.Redis, keyspace: Keyspace) -> FakeWorld:
    return FakeWorld(redis_client, keyspace)


def _deployer(fleet: Fleet, world: FakeWorld, keyspace: Keyspace, lines: list | None = None):
    return Deployer(
        fleet,
        world.client,
        world,
        keyspace,
        TIMINGS,
        clock=world.clock,
        sleep=world.sleep,
        report=(lines.append if lines is not None else lambda line: None),
    )


def _running_first(world: FakeWorld, deployer: Deployer) -> str:
    """The bot as `fleet up` left it: generation 1, live, holding the lease as its bot id."""
    first = deployer._initial("bot-1")
    world.start(first)
    assert world.leases.current("subacc1").holder == "bot-1"
    return first.name


def test_a_healthy_image_is_deployed_and_the_old_container_kept_stopped(fleet, world, keyspace):
    lines: list[str] = []
    deployer = _deployer(fleet, world, keyspace, lines)
    first = _running_first(world, deployer)

    state = deployer.deploy("bot-1", "bot:2.0", strategy_version="abc123")

    assert state.phase is Phase.live and state.live.image == "bot:2.0"
    assert state.live.strategy_version == "abc123" and state.previous.name == first
    assert world.leases.current("subacc1").holder == state.live.holder == "bot-1-g2"
    assert not world.bots[first].running and world.bots[first].instance.image == "(fleet up)"
    assert [line.split(": ")[1] for line in lines] == [
        "canary", "draining", "switching", "watching", "live",
    ]  # fmt: skip
    assert world.trading_at_once() == 1
    # the canary ran in dry-run beside the live bot, under its own identity and no real lease
    canary_loops = [t for t in world.traded if t]
    assert all(len(t) == 1 for t in canary_loops)
    assert "bot-1-canary" not in {b.instance.identity for b in world.bots.values()}  # removed


def test_a_failing_health_gate_switches_nothing(fleet, world, keyspace):
    deployer = _deployer(fleet, world, keyspace)
    first = _running_first(world, deployer)
    world.faults["bot:bad"] = {"fail_after_loops": 3}

    with pytest.raises(DeployFailed, match=r"health gate failed: .* restarted"):
        deployer.deploy("bot-1", "bot:bad")

    assert world.bots[first].running and world.leases.current("subacc1").holder == "bot-1"
    assert deployer.state("bot-1").phase is Phase.live and deployer.state("bot-1").live is None
    assert world.trading_at_once() == 1


def test_a_canary_without_verdicts_fails_the_gate(fleet, world, keyspace):
    deployer = _deployer(fleet, world, keyspace)
    _running_first(world, deployer)
    world.faults["bot:mute"] = {"silent": True}
    with pytest.raises(DeployFailed, match="no verdict"):
        deployer.deploy("bot-1", "bot:mute")


def test_a_failure_in_the_watch_window_rolls_back_automatically(fleet, world, keyspace):
    deployer = _deployer(fleet, world, keyspace)
    first = _running_first(world, deployer)
    # healthy through the 60 s gate (about 13 loops), crash-looping once live for a while
    world.faults["bot:flaky"] = {"fail_after_loops": 16}

    with pytest.raises(DeployFailed, match=r"restarted .* rolled back to"):
        deployer.deploy("bot-1", "bot:flaky")

    state = deployer.state("bot-1")
    assert state.phase is Phase.live and state.live.name == first
    assert state.previous.image == "bot:flaky"
    assert world.bots[first].running and world.leases.current("subacc1").holder == "bot-1"
    assert world.trading_at_once() == 1


def test_rollback_by_hand_swaps_back_and_forth(fleet, world, keyspace):
    deployer = _deployer(fleet, world, keyspace)
    first = _running_first(world, deployer)
    deployed = deployer.deploy("bot-1", "bot:2.0").live

    back = deployer.rollback("bot-1")
    assert back.live.name == first and back.previous.name == deployed.name
    assert world.leases.current("subacc1").holder == "bot-1"
    assert not world.bots[deployed.name].running

    again = deployer.rollback("bot-1")  # and forward again to the kept container
    assert again.live.name == deployed.name
    assert world.leases.current("subacc1").holder == deployed.holder
    assert world.trading_at_once() == 1

    # the next deploy gets a new generation and keeps the current one for rollback
    third = deployer.deploy("bot-1", "bot:3.0")
    assert third.live.generation == 3 and third.previous.name == deployed.name


@pytest.mark.parametrize(
    "crash_on",
    [
        "stop:ctx-fleet-bot-bot-1-1",  # while stopping the old bot
        "start:ctx-fleet-bot-bot-1-g2",  # old stopped, lease released, new not started
    ],
)
def test_a_crash_mid_handover_is_rolled_back_by_the_next_command(fleet, world, keyspace, crash_on):
    deployer = _deployer(fleet, world, keyspace)
    first = _running_first(world, deployer)
    world.crash_on = crash_on
    with pytest.raises(Crash):
        deployer.deploy("bot-1", "bot:2.0")
    interrupted = deployer.state("bot-1")
    assert interrupted.phase in (Phase.draining, Phase.switching)
    world.crash_on = None
    # a process killed outright leaves its lock until it expires (the test's deployer died by
    # an exception, so its `finally` released it); a new process then recovers

    recovered = _deployer(fleet, world, keyspace).recover("bot-1")

    assert recovered.phase is Phase.live and recovered.live.name == first
    assert world.bots[first].running and world.leases.current("subacc1").holder == "bot-1"
    assert world.trading_at_once() == 1


def test_a_crash_while_watching_then_a_new_deploy_first_rolls_back(fleet, world, keyspace):
    deployer = _deployer(fleet, world, keyspace)
    first = _running_first(world, deployer)
    sleeps = {"n": 0}

    def dying_sleep(seconds: float) -> None:
        world.sleep(seconds)
        if deployer.state("bot-1").phase is Phase.watching:
            sleeps["n"] += 1
            if sleeps["n"] == 3:
                raise Crash("deployer killed while watching")

    deployer.sleep = dying_sleep
    with pytest.raises(Crash):
        deployer.deploy("bot-1", "bot:2.0")
    assert world.leases.current("subacc1").holder == "bot-1-g2"  # the new one was trading

    state = _deployer(fleet, world, keyspace).deploy("bot-1", "bot:3.0")

    assert state.live.image == "bot:3.0" and state.previous.name == first
    history = [h["phase"] for h in state.history]
    assert "rolling_back" in history
    assert world.trading_at_once() == 1


def test_a_second_deploy_of_the_same_bot_at_once_is_refused(fleet, world, keyspace):
    deployer = _deployer(fleet, world, keyspace)
    _running_first(world, deployer)
    deployer.redis.set(deployer._key("bot-1") + ":lock", "other", px=60_000)
    with pytest.raises(DeployFailed, match=r"another deploy .* ends in (59|60) s"):
        deployer.deploy("bot-1", "bot:2.0")
    assert deployer.redis.get(deployer._key("bot-1") + ":lock") == "other"  # not taken over


@pytest.mark.parametrize("image", ["", "bot 2", "bot:2\n", "x" * 300])
def test_bad_images_and_unknown_bots_are_refused_before_anything_starts(
    fleet, world, keyspace, image
):
    deployer = _deployer(fleet, world, keyspace)
    with pytest.raises(ValueError):
        deployer.deploy("bot-1", image)
    with pytest.raises(ValueError, match="no bot"):
        deployer.deploy("bot-9", "bot:2.0")
    assert world.started == []
    with pytest.raises(ValueError):
        DeployTimings(gate_s=float("nan"))


def test_docker_runner_starts_the_canary_dry_run_apart_from_the_live_bot(fleet, tmp_path):
    runner = DockerRunner(fleet, tmp_path, docker="docker")
    bot = fleet.bot("bot-1")
    canary = runner.run_argv(canary_of(bot, fleet.project, "reg/bot:2.0", 2, "abc123"))
    live = runner.run_argv(live_of(bot, fleet.project, "reg/bot:2.0", 2, "abc123"))
    assert "FREQTRADE__DRY_RUN=true" in canary and "FREQTRADE__DRY_RUN=false" in live
    assert "FREQTRADE__CONTEXT__ACCOUNT=subacc1.canary" in canary
    assert "FREQTRADE__CONTEXT__LEASE_HOLDER=bot-1-g2" in live
    assert "CTX_STRATEGY_VERSION=abc123" in live
    assert "--publish" not in canary and "--publish" in live  # no port clash
    db = [a for a in canary if a.startswith("sqlite:")]
    assert db and "canary" in db[0]  # nor a shared trade database
    assert live[live.index("reg/bot:2.0") + 1] == "trade"


def test_the_bot_takes_the_lease_under_the_holder_name_it_is_given():
    from context_service.client.factory import ConfigProblem, read_options

    assert read_options({"context": {"lease_holder": "bot-1-g2"}}).lease_holder == "bot-1-g2"
    for bad in ("Bot 1", "bot-1\n", "x" * 40, 7):
        with pytest.raises(ConfigProblem):
            read_options({"context": {"lease_holder": bad}})


def test_ids_with_a_trailing_newline_are_refused():
    from context_service.fleet.lease import validate_account
    from context_service.keys import validate_bot_id

    for check, value in ((validate_bot_id, "bot-1\n"), (validate_account, "acc1\n")):
        with pytest.raises(ValueError):
            check(value)
