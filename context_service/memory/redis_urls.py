"""Redis URLs beyond one server: Redis Sentinel and Redis Cluster.

``CTX_REDIS_URL`` accepts, besides redis-py's own ``redis://``, ``rediss://`` and ``unix://``:

* ``redis+sentinel://[[user]:password@]host:port[,host:port...]/SERVICE[/DB][?options]``
  the Sentinels to ask (one or more), the name of the monitored primary (``SERVICE``, as in
  ``sentinel monitor SERVICE ...``) and the database number (default 0). The client always
  talks to the current primary and finds the new one after a failover. ``user``/``password``
  are those of the Redis servers; ``?sentinel_password=...`` when the Sentinels have their own.
* ``redis+cluster://[[user]:password@]host:port[,host:port...]`` any reachable nodes of a Redis
  Cluster (the client discovers the others and follows slot moves). A cluster has database 0
  only. Every key of one bot shares the hash tag ``{bot_id}`` (see :mod:`context_service.keys`),
  so each bot's scripts and transactions stay in one slot.

``rediss+sentinel://`` and ``rediss+cluster://`` use TLS. Options other than the ones named
here are refused, so a typo never goes unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
PLAIN_SCHEMES = ("redis", "rediss", "unix")
HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})$")
SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SENTINEL_OPTIONS = {"sentinel_password", "sentinel_username"}
MAX_URL_LENGTH = 4096
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_REDIS_PORT = 6379


class InvalidRedisUrl(ValueError):
    """A Redis URL that cannot be used; the message never repeats the password."""


@dataclass(frozen=True)
class RedisTarget:
    """What a Sentinel or Cluster URL names."""

    kind: str  # "sentinel" or "cluster"
    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    service: str | None = None  # sentinel: the monitored primary's name
    db: int = 0
    options: dict[str, str] = field(default_factory=dict, repr=False)


def _scheme(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise InvalidRedisUrl("a Redis URL looks like redis://host:6379/0")
    if len(url) > MAX_URL_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidRedisUrl("the Redis URL is too long or contains control characters")
    return url.split("://", 1)[0].lower()


def _nodes(text: str, default_port: int) -> tuple[tuple[str, int], ...]:
    nodes = []
    for item in text.split(","):
        host, _, port_text = item.strip().rpartition(":") if ":" in item else (item, "", "")
        host = host or item.strip()
        if not port_text:
            port = default_port
        elif port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            raise InvalidRedisUrl(f"bad port in Redis node {item!r}")
        if not HOST_RE.fullmatch(host):
            raise InvalidRedisUrl(f"bad host in Redis node {item!r}")
        nodes.append((host.strip("[]"), port))
    if not nodes:
        raise InvalidRedisUrl("the Redis URL names no node")
    return tuple(nodes)


def parse_ha_url(url: str) -> RedisTarget:
    """Parse a ``redis+sentinel://`` or ``redis+cluster://`` URL (see the module docstring)."""
    scheme = _scheme(url)
    if scheme not in SENTINEL_SCHEMES and scheme not in CLUSTER_SCHEMES:
        raise InvalidRedisUrl(f"not a Sentinel or Cluster URL (scheme {scheme!r})")
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise InvalidRedisUrl("a Redis URL has no #fragment")
    userinfo, _, hostpart = rest.rpartition("@")
    hosts, _, path = hostpart.partition("/")
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False))
    parts = [p for p in path.split("/") if p]
    if scheme in CLUSTER_SCHEMES:
        if parts not in ([], ["0"]):
            raise InvalidRedisUrl("a Redis Cluster has database 0 only: no path after the nodes")
        if options:
            raise InvalidRedisUrl(f"unknown Cluster URL options: {sorted(options)}")
        return RedisTarget(
            "cluster",
            _nodes(hosts, DEFAULT_REDIS_PORT),
            CLUSTER_SCHEMES[scheme],
            username,
            password,
        )
    unknown = set(options) - SENTINEL_OPTIONS
    if unknown:
        raise InvalidRedisUrl(f"unknown Sentinel URL options: {sorted(unknown)}")
    if not parts or len(parts) > 2 or not SERVICE_RE.fullmatch(parts[0]):
        raise InvalidRedisUrl("a Sentinel URL ends with /SERVICE or /SERVICE/DB (the primary name)")
    db_text = parts[1] if len(parts) == 2 else "0"
    if not db_text.isdigit() or int(db_text) > 15:
        raise InvalidRedisUrl("the database number must be 0-15")
    return RedisTarget(
        "sentinel",
        _nodes(hosts, DEFAULT_SENTINEL_PORT),
        SENTINEL_SCHEMES[scheme],
        username,
        password,
        parts[0],
        int(db_text),
        options,
    )


def is_ha_url(url: str | None) -> bool:
    return bool(url) and _scheme(url) in {*SENTINEL_SCHEMES, *CLUSTER_SCHEMES}  # type: ignore[arg-type]


def _cluster(target: RedisTarget, options: dict[str, Any]) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        ssl=target.tls,
        **options,
    )


def _sentinel(target: RedisTarget, options: dict[str, Any]) -> redis.Redis:
    timeouts = {
        name: options[name]
        for name in ("socket_timeout", "socket_connect_timeout")
        if name in options
    }
    sentinel_kwargs: dict[str, Any] = {**timeouts, "ssl": target.tls}
    if "sentinel_password" in target.options:
        sentinel_kwargs["password"] = target.options["sentinel_password"]
    if "sentinel_username" in target.options:
        sentinel_kwargs["username"] = target.options["sentinel_username"]
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs)
    return sentinel.master_for(
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        **options,
    )


def client_from_url(url: str, **options: Any) -> redis.Redis | RedisCluster:
    """A client for any supported URL; ``options`` are redis-py client options (timeouts,
    ``decode_responses``, ``retry``...) applied to the data connections."""
    scheme = _scheme(url)
    if scheme in PLAIN_SCHEMES:
        return redis.Redis.from_url(url, **options)
    target = parse_ha_url(url)
    if target.kind == "cluster":
        return _cluster(target, options)
    return _sentinel(target, options)


def redacted(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail.split("/", 1)[0]:
        return url
    userinfo, _, rest = tail.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{head}://{user}:***@{rest}"
