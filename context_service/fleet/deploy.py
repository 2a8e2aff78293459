"""Staged deploy of one bot with automatic rollback: a state machine kept in Redis.

``deploy`` goes through these phases, saving the state before each step so that a crash at
any point leaves a record of what was in flight::

    live ──▶ canary ──▶ draining ──▶ switching ──▶ watching ──▶ live (new)
               │            │             │             │
               └────────────┴─────────────┴─────────────┴──▶ rolling_back ──▶ live (old)

* **canary**: the new image runs beside the live bot in dry-run (same pairs, its own memory
  identity and a pseudo-account, so no lease); the health gate wants it running without
  restarts, a fresh heartbeat and verdicts flowing, for ``gate_s``.
* **draining**: the old bot is stopped (no new entries, no trading) and its lease released.
* **switching**: the new bot starts live and must take the lease within ``switch_timeout_s``.
* **watching**: for ``watch_s`` the new bot must stay up, unrestarted, holding the lease.

Any failure rolls back: the new bot is stopped and its lease released, then the old one is
started again and must take the lease back. The old container is kept stopped after a good
deploy, so ``rollback`` by hand swaps back to it. The lease is what guarantees that two
instances never trade at once: each holds it under its own holder name, and the one starting
waits until the one stopping has released it. A deploy interrupted by a crash is rolled back
by the next ``deploy``, ``rollback`` or ``recover`` for that bot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis

from context_service.fleet.containers import ContainerRunner, Instance, canary_of, live_of
from context_service.fleet.lease import LeaseManager
from context_service.fleet.model import Fleet
from context_service.keys import Keyspace
from context_service.redis_text import as_text

HISTORY_LIMIT = 50
LOCK_MARGIN_S = 600  # beyond the longest a deploy can take, so a killed deployer's lock ends
IMAGE_MAX = 256


class Phase(StrEnum):
    live = "live"
    canary = "canary"
    draining = "draining"
    switching = "switching"
    watching = "watching"
    rolling_back = "rolling_back"


class DeployFailed(RuntimeError):
    """A deploy or rollback did not complete; the message says what state it left."""


@dataclass(frozen=True)
class DeployTimings:
    gate_s: float = 300.0
    watch_s: float = 600.0
    switch_timeout_s: float = 120.0
    poll_s: float = 5.0
    heartbeat_max_age_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("gate_s", "watch_s", "switch_timeout_s", "poll_s", "heartbeat_max_age_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 86_400 or value != value:
                raise ValueError(f"{name} must be a number of seconds in (0, 86400]")


@dataclass
class DeployState:
    bot_id: str
    phase: Phase = Phase.live
    live: Instance | None = None  # None: the container `fleet up` started (generation 1)
    previous: Instance | None = None  # stopped, kept for a rollback
    old: Instance | None = None  # during a deploy: what was live before it
    candidate: Instance | None = None  # during a deploy: the new live instance
    canary: Instance | None = None
    history: list[dict[str, Any]] | None = None

    def as_json(self) -> dict[str, Any]:
        def dump(instance: Instance | None) -> dict[str, Any] | None:
            return None if instance is None else instance.as_json()

        return {
            "bot_id": self.bot_id,
            "phase": self.phase.value,
            "live": dump(self.live),
            "previous": dump(self.previous),
            "old": dump(self.old),
            "candidate": dump(self.candidate),
            "canary": dump(self.canary),
            "history": self.history or [],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployState:
        def load(value: dict[str, Any] | None) -> Instance | None:
            return None if value is None else Instance.from_json(value)

        return cls(
            bot_id=data["bot_id"],
            phase=Phase(data["phase"]),
            live=load(data.get("live")),
            previous=load(data.get("previous")),
            old=load(data.get("old")),
            candidate=load(data.get("candidate")),
            canary=load(data.get("canary")),
            history=list(data.get("history") or []),
        )


class Deployer:
    """Runs staged deploys and rollbacks of the fleet's bots."""

    def __init__(
        self,
        fleet: Fleet,
        client: redis.Redis,
        runner: ContainerRunner,
        keyspace: Keyspace | None = None,
        timings: DeployTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.fleet = fleet
        self.redis = client
        self.runner = runner
        self.keyspace = keyspace or Keyspace()
        self.leases = LeaseManager(client, self.keyspace)
        self.timings = timings or DeployTimings()
        self.clock = clock
        self.sleep = sleep
        self.report = report

    # -- state ---------------------------------------------------------------------------
    def _key(self, bot_id: str) -> str:
        return self.keyspace.bot(bot_id).key("deploy")

    def state(self, bot_id: str) -> DeployState:
        self.fleet.bot(bot_id)  # a bot of the fleet file, else FleetFileError
        raw = self.redis.get(self._key(bot_id))
        return DeployState(bot_id) if raw is None else DeployState.from_json(json.loads(raw))

    def _save(self, state: DeployState, phase: Phase, detail: str) -> None:
        state.phase = phase
        entry = {"at": datetime.now(UTC).isoformat(), "phase": phase.value, "detail": detail}
        state.history = [*(state.history or []), entry][-HISTORY_LIMIT:]
        self.redis.set(self._key(state.bot_id), json.dumps(state.as_json()))
        self.report(f"{state.bot_id}: {phase.value}: {detail}")

    def _locked(self, bot_id: str) -> str:
        """One deploy or rollback per bot at a time. The lock outlives the longest deploy
        (gate, switch, watch, rollback) by a margin, then expires: a deployer killed with
        SIGKILL blocks the bot's next deploy for that long at most."""
        t = self.timings
        ttl_s = t.gate_s + t.watch_s + 2 * t.switch_timeout_s + LOCK_MARGIN_S
        token = f"{time.time_ns()}"
        key = self._key(bot_id) + ":lock"
        if not self.redis.set(key, token, nx=True, px=int(ttl_s * 1000)):
            left = max(0, int(self.redis.pttl(key)) // 1000)
            raise DeployFailed(
                f"another deploy or rollback of {bot_id} is running (its lock ends in {left} s)"
            )
        return token

    def _unlock(self, bot_id: str, token: str) -> None:
        key = self._key(bot_id) + ":lock"
        if as_text(self.redis.get(key) or "") == token:
            self.redis.delete(key)

    def _initial(self, bot_id: str) -> Instance:
        """The container `fleet up` started: generation 1, holding the lease as the bot id."""
        bot = self.fleet.bot(bot_id)
        return Instance(
            name=f"{self.fleet.project}-{bot.service}-1",
            bot_id=bot.id,
            image="(fleet up)",
            generation=1,
            identity=bot.id,
            account=bot.account,
            holder=bot.id,
            live=True,
        )

    # -- commands ------------------------------------------------------------------------
    def deploy(self, bot_id: str, image: str, strategy_version: str | None = None) -> DeployState:
        if not image or len(image) > IMAGE_MAX or any(c.isspace() for c in image):
            raise ValueError("the image must be a non-empty tag without whitespace")
        token = self._locked(bot_id)
        try:
            state = self.state(bot_id)
            if state.phase is not Phase.live:
                self._roll_back(state, "an interrupted deploy was found")
            return self._deploy(state, image, strategy_version)
        finally:
            self._unlock(bot_id, token)

    def rollback(self, bot_id: str, reason: str = "rollback by hand") -> DeployState:
        token = self._locked(bot_id)
        try:
            state = self.state(bot_id)
            if state.phase is Phase.live:
                if state.previous is None:
                    raise DeployFailed(f"{bot_id}: no previous version to roll back to")
                state.old, state.candidate = state.previous, state.live
            self._roll_back(state, reason)
            return state
        finally:
            self._unlock(bot_id, token)

    def recover(self, bot_id: str) -> DeployState:
        """Roll back a deploy a crash interrupted; nothing to do when none is in flight."""
        token = self._locked(bot_id)
        try:
            state = self.state(bot_id)
            if state.phase is not Phase.live:
                self._roll_back(state, "an interrupted deploy was found")
            return state
        finally:
            self._unlock(bot_id, token)

    # -- the deploy ----------------------------------------------------------------------
    def _deploy(self, state: DeployState, image: str, version: str | None) -> DeployState:
        bot = self.fleet.bot(state.bot_id)
        old = state.live or self._initial(bot.id)
        generation = max(old.generation, state.previous.generation if state.previous else 0) + 1
        state.old = old
        state.canary = canary_of(bot, self.fleet.project, image, generation, version)
        state.candidate = live_of(bot, self.fleet.project, image, generation, version)
        self._save(state, Phase.canary, f"dry-run canary {state.canary.name} ({image})")
        before = self._newest_verdict(state.canary)  # a verdict of an earlier canary run
        self.runner.start(state.canary)
        problem = self._gate(state.canary, before)
        self.runner.remove(state.canary.name)
        if problem:
            state.canary = state.candidate = state.old = None
            self._save(state, Phase.live, f"health gate failed, nothing switched: {problem}")
            raise DeployFailed(f"{bot.id}: health gate failed: {problem}")
        state.canary = None
        self._save(state, Phase.draining, f"stopping {old.name} and releasing its lease")
        self.runner.stop(old.name)
        self.leases.release(old.account, old.holder)
        holder = self.leases.current(old.account).holder
        if holder is not None:
            return self._failed(state, f"lease of {old.account} still held by {holder}")
        self._save(state, Phase.switching, f"starting {state.candidate.name} live")
        self.runner.start(state.candidate)
        problem = self._until_holding(state.candidate)
        if problem:
            return self._failed(state, problem)
        self._save(state, Phase.watching, f"watching {state.candidate.name}")
        problem = self._watch(state.candidate)
        if problem:
            return self._failed(state, problem)
        state.live, state.previous = state.candidate, old
        state.old = state.candidate = None
        self._save(state, Phase.live, f"{state.live.name} is live; {old.name} kept stopped")
        return state

    def _failed(self, state: DeployState, problem: str) -> DeployState:
        self._roll_back(state, problem)
        raise DeployFailed(f"{state.bot_id}: {problem}; rolled back to {state.live.name}")  # type: ignore[union-attr]

    def _roll_back(self, state: DeployState, reason: str) -> None:
        """Stop the new instance, release its lease, restart the old one until it holds the
        lease again. Safe to run again after a crash in the middle of it."""
        if state.canary is not None:
            self.runner.remove(state.canary.name)
            state.canary = None
        good = state.old or state.live or self._initial(state.bot_id)
        bad = state.candidate
        self._save(state, Phase.rolling_back, reason)
        if bad is not None:
            self.runner.stop(bad.name)
            self.leases.release(bad.account, bad.holder)
        self.runner.start(good)
        problem = self._until_holding(good)
        if problem:
            raise DeployFailed(f"{state.bot_id}: rollback incomplete ({problem}); state kept")
        state.live, state.previous = good, bad if bad is not None else state.previous
        state.old = state.candidate = None
        self._save(state, Phase.live, f"rolled back: {good.name} is live")

    # -- checks --------------------------------------------------------------------------
    def _health(self, instance: Instance) -> str | None:
        status = self.runner.status(instance.name)
        if not status.get("running"):
            return f"{instance.name} is not running"
        if status.get("restarts", 0):
            return f"{instance.name} restarted {status['restarts']} time(s)"
        return None

    def _newest_verdict(self, instance: Instance) -> str | None:
        raw = self.redis.lindex(self.keyspace.bot(instance.identity).last_verdicts, 0)
        return None if raw is None else as_text(raw)

    def _gate(self, canary: Instance, before: str | None) -> str | None:
        """None when the canary passed: up, unrestarted, a fresh heartbeat and a new verdict."""
        deadline = self.clock() + self.timings.gate_s
        while True:
            problem = self._health(canary)
            if problem:
                return problem
            if self.clock() >= deadline:
                break
            self.sleep(self.timings.poll_s)
        age = self.runner.status(canary.name).get("heartbeat_age_s")
        if age is None or age > self.timings.heartbeat_max_age_s:
            return (
                f"no heartbeat from {canary.name} in the last {self.timings.heartbeat_max_age_s} s"
            )
        if self._newest_verdict(canary) in (None, before):
            return f"no verdict from {canary.name} during the gate"
        return None

    def _until_holding(self, instance: Instance) -> str | None:
        deadline = self.clock() + self.timings.switch_timeout_s
        while True:
            if self.leases.current(instance.account).holder == instance.holder:
                return None
            if self.clock() >= deadline:
                holder = self.leases.current(instance.account).holder
                return f"{instance.name} did not take the lease (holder: {holder})"
            self.sleep(self.timings.poll_s)

    def _watch(self, instance: Instance) -> str | None:
        deadline = self.clock() + self.timings.watch_s
        while self.clock() < deadline:
            self.sleep(self.timings.poll_s)
            problem = self._health(instance)
            if problem:
                return problem
            holder = self.leases.current(instance.account).holder
            if holder != instance.holder:
                return f"{instance.name} lost the lease (holder: {holder})"
        return None
