"""Redis Sentinel: the primary dies, a replica takes over, and no acknowledged trade event is
lost (events acknowledged by a replica before the crash, and events journaled during it).

Built to hold on a busy machine: every wait is bounded but generous, and nothing beyond the
claim is required (the failed primary need not come back; the journal is written to the new
primary by a writer that asks for no replica, as an operator would configure it while the group
has none left).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis_procs import SentinelGroup, wait_until

from context_service.keys import Keyspace
from context_service.memory import JournaledTradeWriter, Memory, TradeEvent, connect
from context_service.settings import Settings

T0 = datetime(2024, 5, 3, 12, tzinfo=UTC)
PREFIX = "hasentinel"
# Sentinel promotes within about a second here when the machine is idle (down-after 400 ms).
FAILOVER_TIMEOUT_S = 120
# How long a write waits for the replica's acknowledgement: loopback replication takes
# milliseconds, but a loaded machine may not schedule the replica for seconds.
ACK_TIMEOUT_MS = 10_000
ACKNOWLEDGED = range(1, 21)
DURING = range(21, 26)


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


def _memory(url: str, tmp_path: Path, wait_replicas: int) -> Memory:
    settings = Settings(
        _env_file=None,
        redis_url=url,
        redis_wait_replicas=wait_replicas,  # 1: acknowledged = on the primary and on a replica
        redis_wait_timeout_ms=ACK_TIMEOUT_MS,
        journal_dir=tmp_path / "journal",
    )
    return Memory(connect(settings), Keyspace(prefix=PREFIX), settings)


def _stored_ids(memory: Memory) -> set[int | str]:
    return {event.trade_id for event in memory.bot("bot-1").trades.events()}


def _waited(group: SentinelGroup, check, timeout_s: float, what: str) -> None:
    """``wait_until``, with the servers' replication state and logs when it times out."""
    try:
        wait_until(check, timeout_s, what)
    except RuntimeError as exc:
        states = "\n".join(p.describe() for p in (group.replica, *group.sentinels) if p)
        raise AssertionError(f"{exc}\n{states}") from None


def test_acknowledged_trade_events_survive_a_failover(
    sentinel_group: SentinelGroup, tmp_path: Path
) -> None:
    group = sentinel_group
    old_primary, replica = group.primary, group.replica
    assert old_primary is not None and replica is not None
    memory = _memory(group.url, tmp_path, wait_replicas=1)
    writer = JournaledTradeWriter(memory, retry_after_s=0.1)

    before = [writer.record(_fill(n)) for n in ACKNOWLEDGED]
    assert before == ["stored"] * len(ACKNOWLEDGED)  # each one acknowledged by the replica

    old_primary.kill()  # SIGKILL: the primary is gone without a goodbye
    # Nothing can be acknowledged now (no primary; once the replica is promoted, no replica
    # left to confirm): the bot keeps going on its journal.
    during = [writer.record(_fill(n)) for n in DURING]
    assert during == ["journaled"] * len(DURING)

    _waited(
        group,
        lambda: group.primary_port() == replica.port,
        FAILOVER_TIMEOUT_S,
        "Sentinel to promote the replica",
    )
    # The claim: every acknowledged event is on the promoted server. Read straight from it (no
    # client in between), and through Sentinel with the codec-aware reader.
    keys = Keyspace(prefix=PREFIX).bot("bot-1")
    with replica.client(decode_responses=True) as direct:
        fields = direct.hkeys(keys.trade_events)
    assert set(ACKNOWLEDGED) <= {int(field.split(":", 1)[0]) for field in fields}
    reader = _memory(group.url, tmp_path, wait_replicas=0)
    _waited(
        group,
        lambda: set(ACKNOWLEDGED) <= _stored_ids(reader),
        FAILOVER_TIMEOUT_S,
        "the acknowledged events through Sentinel",
    )

    # The journaled events reach the new primary as well, each once.
    replayer = JournaledTradeWriter(reader, retry_after_s=0.1)
    _waited(
        group,
        lambda: replayer.replay() >= 0 and replayer.pending() == 0,
        FAILOVER_TIMEOUT_S,
        "the journal replay",
    )
    assert _stored_ids(reader) == set(ACKNOWLEDGED) | set(DURING)
    with replica.client() as direct:
        assert direct.hlen(keys.trade_events) == len(ACKNOWLEDGED) + len(DURING)
