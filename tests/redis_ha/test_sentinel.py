"""Redis Sentinel: the primary dies, a replica takes over, and no acknowledged trade event is
lost (events acknowledged by a replica before the crash, and events journaled during it)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis_procs import FAST_SYNC, RedisProcess, SentinelGroup, wait_until

from context_service.keys import Keyspace
from context_service.memory import JournaledTradeWriter, Memory, TradeEvent, connect
from context_service.settings import Settings

T0 = datetime(2024, 5, 3, 12, tzinfo=UTC)
FAILOVER_TIMEOUT_S = 40


def _fill(n: int) -> TradeEvent:
    return TradeEvent(
        bot_id="bot-1",
        trade_id=n,
        order_id=f"ord-{n}",
        event="entry_fill",
        pair="BTC/USDT",
        side="buy",
        time=T0 + timedelta(minutes=n),
        price=100.0 + n,
        amount=0.5,
        stake=50.0,
    )


def _memory(url: str, tmp_path: Path) -> Memory:
    settings = Settings(
        _env_file=None,
        redis_url=url,
        redis_wait_replicas=1,  # acknowledged = on the primary and on a replica
        redis_wait_timeout_ms=2000,  # generous: the test machine may be busy
        journal_dir=tmp_path / "journal",
    )
    return Memory(connect(settings), Keyspace(prefix="hasentinel"), settings)


def test_acknowledged_trade_events_survive_a_failover(
    sentinel_group: SentinelGroup, tmp_path: Path
) -> None:
    group = sentinel_group
    old_primary, replica = group.primary, group.replica
    assert old_primary is not None and replica is not None
    memory = _memory(group.url, tmp_path)
    writer = JournaledTradeWriter(memory, retry_after_s=0.1)

    before = [writer.record(_fill(n)) for n in range(1, 21)]
    assert before == ["stored"] * 20  # each one acknowledged by the replica

    old_primary.kill()  # SIGKILL: the primary is gone without a goodbye
    during = []
    deadline = time.monotonic() + FAILOVER_TIMEOUT_S
    n = 21
    while group.primary_port() != replica.port:
        assert time.monotonic() < deadline, "Sentinel did not promote the replica"
        if n <= 40:
            during.append(writer.record(_fill(n)))
            n += 1
        time.sleep(0.05)
    assert "journaled" in during  # the bot kept going while there was no primary

    # The failed host comes back as a replica of the new primary (what a restarted pod does
    # after asking Sentinel for the primary), so writes can be acknowledged again.
    returning = RedisProcess(
        old_primary.port,
        old_primary.workdir,
        ["--replicaof", "127.0.0.1", str(replica.port), *FAST_SYNC],
        group.binary,
    )
    returning.start()
    group.primary = returning

    def rejoined() -> bool:
        with returning.client(decode_responses=True) as client:
            info = client.info("replication")
        return info["role"] == "slave" and info["master_link_status"] == "up"

    try:
        wait_until(rejoined, FAILOVER_TIMEOUT_S, "the old primary to rejoin as a replica")
    except RuntimeError as exc:
        raise AssertionError(f"{exc}\n{returning.describe()}\n{replica.describe()}") from None
    while n <= 40:
        during.append(writer.record(_fill(n)))
        n += 1
    wait_until(lambda: writer.replay() >= 0 and writer.pending() == 0, 30, "the journal replay")

    fresh = _memory(group.url, tmp_path)
    stored = {e.trade_id for e in fresh.bot("bot-1").trades.events()}
    assert stored == set(range(1, 41))
    # read straight from the promoted server too: no client-side cache involved
    keys = Keyspace(prefix="hasentinel").bot("bot-1")
    assert replica.client().hlen(keys.trade_events) == 40
