"""CTX_REDIS_URL parsing for Sentinel and Cluster URLs, including hostile input."""

from __future__ import annotations

import pytest

from context_service.memory.connection import client_options, connect
from context_service.memory.redis_urls import (
    InvalidRedisUrl,
    client_from_url,
    is_ha_url,
    parse_ha_url,
    redacted,
)
from context_service.settings import Settings


def test_sentinel_url_with_several_sentinels_service_db_and_passwords() -> None:
    target = parse_ha_url(
        "redis+sentinel://:s3cret@10.0.0.1:26379,sentinel-b,[::1]:26380/mymaster/2"
        "?sentinel_password=other"
    )
    assert target.kind == "sentinel" and target.service == "mymaster" and target.db == 2
    assert target.nodes == (("10.0.0.1", 26379), ("sentinel-b", 26379), ("::1", 26380))
    assert target.password == "s3cret" and target.options == {"sentinel_password": "other"}
    assert "s3cret" not in repr(target)


def test_cluster_url_with_seed_nodes_and_tls() -> None:
    target = parse_ha_url("rediss+cluster://user:pw@node-1:7000,node-2:7001")
    assert target.kind == "cluster" and target.tls
    assert target.nodes == (("node-1", 7000), ("node-2", 7001)) and target.username == "user"


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h:26379",  # no service name
        "redis+sentinel://h:26379/svc/99",  # database out of range
        "redis+sentinel://h:26379/svc/0?sentinel_pasword=x",  # typo in an option
        "redis+sentinel://h:0/svc",  # port 0
        "redis+sentinel://h:99999/svc",
        "redis+sentinel://h:26379/bad}name",
        "redis+cluster://h:7000/3",  # a cluster has db 0 only
        "redis+cluster://h:7000?readonly=1",
        "redis+cluster://h\n:7000",  # control character
        "redis+cluster://h:7000,,h2:7001",  # empty node
        "redis+cluster://" + "a" * 5000,
        "redis+cluster://h:7000#frag",
        "mongodb://h:27017",
        "no scheme at all",
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(url: str) -> None:
    with pytest.raises(InvalidRedisUrl):
        parse_ha_url(url)


def test_a_refusal_never_repeats_the_password() -> None:
    with pytest.raises(InvalidRedisUrl) as caught:
        parse_ha_url("redis+cluster://:hunter2@h:notaport")
    assert "hunter2" not in str(caught.value)
    assert redacted("redis+cluster://u:hunter2@h:7000") == "redis+cluster://u:***@h:7000"


def test_plain_urls_still_go_to_redis_py_and_are_not_ha() -> None:
    assert not is_ha_url("redis://127.0.0.1:6379/0") and is_ha_url("redis+cluster://h:1")
    client = client_from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.1)
    assert client.connection_pool.connection_kwargs["port"] == 1
    with pytest.raises(InvalidRedisUrl):
        client_from_url("redis+sentinel://h:26379")


def test_fail_fast_timeouts_reach_every_kind_of_client() -> None:
    plain = connect(Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0"))
    options = plain.connection_pool.connection_kwargs
    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (0.25, 1.0)
    sentinel = connect(Settings(_env_file=None, redis_url="redis+sentinel://127.0.0.1:1/ctx"))
    options = sentinel.connection_pool.connection_kwargs
    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (0.25, 1.0)
    (asked,) = sentinel.connection_pool.sentinel_manager.sentinels
    assert asked.connection_pool.connection_kwargs["socket_connect_timeout"] == 0.25


def test_waiting_for_replicas_stretches_the_command_timeout_past_the_wait() -> None:
    """WAIT blocks on the server: a shorter socket timeout would call a slow replica an
    unreachable Redis (and trip the sidecar's health flag)."""
    settings = Settings(
        _env_file=None,
        redis_url="redis+sentinel://127.0.0.1:1/ctx",
        redis_wait_replicas=1,
        redis_wait_timeout_ms=3000,
    )
    options = connect(settings).connection_pool.connection_kwargs
    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (0.25, 3.5)
    no_wait = Settings(_env_file=None, redis_wait_replicas=0, redis_wait_timeout_ms=3000)
    assert client_options(no_wait)["socket_timeout"] == 1.0
