"""A fake container engine for the deploy state machine, with bots that use the real lease.

Time is simulated: the deployer's ``sleep`` advances the clock and lets every running bot take
one loop, in which a live bot renews its lease on the real Redis (through the real
LeaseManager) and trades only while it holds it, and a canary posts a verdict. The world
records, per loop, which instances traded, so a test can prove two never traded at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from context_service.fleet.containers import ContainerRunner, Instance
from context_service.fleet.lease import LeaseManager
from context_service.keys import Keyspace


class Crash(Exception):
    """The deploying process dies here (a power cut, an OOM kill)."""


@dataclass
class FakeBot:
    instance: Instance
    running: bool = False
    restarts: int = 0
    loops: int = 0
    fail_after_loops: int | None = None  # the container starts crash-looping
    silent: bool = False  # runs, but never asks for a verdict


@dataclass
class FakeWorld(ContainerRunner):
    client: redis.Redis
    keyspace: Keyspace
    now: float = 0.0
    bots: dict[str, FakeBot] = field(default_factory=dict)
    traded: list[set[str]] = field(default_factory=list)  # per loop: who traded
    started: list[str] = field(default_factory=list)
    crash_on: str | None = None  # "start:<name>" or "stop:<name>"
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)  # image -> FakeBot fields

    def __post_init__(self) -> None:
        self.leases = LeaseManager(self.client, self.keyspace)

    # -- ContainerRunner -----------------------------------------------------------------
    def start(self, instance: Instance) -> None:
        if self.crash_on == f"start:{instance.name}":
            raise Crash(instance.name)
        bot = self.bots.get(instance.name)
        if bot is None:
            bot = self.bots[instance.name] = FakeBot(
                instance, **self.faults.get(instance.image, {})
            )
        bot.running = True
        self.started.append(instance.name)
        self.loop()  # a bot's first loop comes right after it starts

    def stop(self, name: str) -> None:
        if self.crash_on == f"stop:{name}":
            raise Crash(name)
        if name in self.bots:
            self.bots[name].running = False

    def remove(self, name: str) -> None:
        self.bots.pop(name, None)

    def status(self, name: str) -> dict[str, Any]:
        bot = self.bots.get(name)
        if bot is None:
            return {"running": False, "restarts": 0, "heartbeat_age_s": None}
        return {
            "running": bot.running,
            "restarts": bot.restarts,
            "heartbeat_age_s": 1.0 if bot.running and bot.loops else None,
        }

    # -- the simulated bots --------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.loop()

    def clock(self) -> float:
        return self.now

    def loop(self) -> None:
        trading: set[str] = set()
        for name, bot in list(self.bots.items()):
            if not bot.running:
                continue
            bot.loops += 1
            if bot.fail_after_loops is not None and bot.loops > bot.fail_after_loops:
                bot.restarts += 1
            instance = bot.instance
            state = self.leases.acquire(instance.account, instance.holder, ttl_s=60)
            if instance.live and state.held:
                trading.add(name)
            if not bot.silent:
                key = self.keyspace.bot(instance.identity).last_verdicts
                self.client.lpush(key, f'{{"n": {bot.loops}, "by": "{name}"}}')
        self.traded.append(trading)

    def trading_at_once(self) -> int:
        """The most instances that traded in the same loop (must never exceed 1)."""
        return max((len(t) for t in self.traded), default=0)
