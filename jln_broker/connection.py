"""The one place that reads a broker URL's scheme, and turns a URL into a Redis client.

``redis://``, ``rediss://`` and ``unix://`` reach a real Redis; ``redis+sentinel://`` the
master a set of Redis Sentinels names for a service (followed across failovers);
``redis+cluster://`` a Redis Cluster, found from any of its nodes; ``memory://[name]`` is the
embedded broker, an in-process fakeredis server shared by every client of this process that
names it, so the Jupyter server's reader and its REST ingest see the same streams without any
Redis installed; ``http(s)://`` is a Jupyter server's REST ingest (``kind`` says which).

Sentinel and Cluster URLs name several hosts, comma-separated (``docs/protocol.md`` §9)::

    redis+sentinel://[user:password@]host[:26379][,host[:26379]...]/<service>[/<db>]
        [?sentinel_username=&sentinel_password=&wait_replicas=&wait_timeout=]
    redis+cluster://[user:password@]host[:6379][,host[:6379]...]

The credentials before ``@`` are the data nodes' (master and replicas, or cluster nodes);
sentinels that ask for their own (``requirepass`` in sentinel.conf) get ``sentinel_username``
and ``sentinel_password``. ``wait_replicas=N`` (also on ``redis://`` and ``rediss://``) makes a
publish wait for N replicas (``replication``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.cluster
import redis.retry
import redis.sentinel
from redis.backoff import NoBackoff

from .errors import ValidationError
from .replication import DEFAULT_TIMEOUT_MS, ReplicaWait

REDIS_SCHEMES = ("redis", "rediss", "unix")
SENTINEL = "redis+sentinel"
CLUSTER = "redis+cluster"
HTTP_SCHEMES = ("http", "https")
_SCHEMES = (*REDIS_SCHEMES, SENTINEL, CLUSTER, "memory", *HTTP_SCHEMES)
SENTINEL_PORT = 26379
CLUSTER_PORT = 6379
_WAIT_PARAMS = ("wait_replicas", "wait_timeout")
_SENTINEL_PARAMS = ("sentinel_username", "sentinel_password", *_WAIT_PARAMS)
_HASH_TAG = re.compile(r"\{[^}]+\}")  # what Redis Cluster hashes instead of the whole key
CLUSTER_REDIS_PY = (8, 2)
"""The redis-py a cluster URL needs: before 8.2 its asyncio cluster pipelines refuse EVALSHA (a
server's pipelined ingest) and fail on some replies inside MULTI (the inbox state)."""

AsyncClient = redis.asyncio.Redis | redis.asyncio.RedisCluster
"""What ``async_client`` makes: every command JLN sends means the same on both."""
SyncClient = redis.Redis | redis.cluster.RedisCluster

_memory_servers: dict[str, Any] = {}


def scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise ValidationError("url", f"scheme must be one of {', '.join(_SCHEMES)}, not "
                                     f"{scheme or 'missing'!r} (in {redact(url)!r})")
    return scheme


Kind = Literal["redis", "memory", "http"]


def kind(url: str) -> Kind:
    """What a URL reaches: a Redis server, this process's embedded broker, or a Jupyter
    server's REST ingest. Refuses any other scheme, or a malformed Sentinel or Cluster URL,
    naming the URL."""
    scheme = scheme_of(url)
    if scheme == "memory":
        return "memory"
    if scheme in HTTP_SCHEMES:
        return "http"
    if scheme in (SENTINEL, CLUSTER):
        _Hosts.parse(url)
    replica_wait(url)
    return "redis"


def redact(url: str) -> str:
    """The URL without its password or token (nor its query, which may hold another), for
    messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    return url.split("?", 1)[0]


def key_prefix(url: str, prefix: str) -> str:
    """The key prefix to use on ``url``: as given, except on a Redis Cluster, where it becomes a
    hash tag (``jln`` -> ``{jln}``) unless it holds one already. Every JLN key then lies in
    one slot, so one ``XREAD`` reads a server's streams and one script writes a batch."""
    if scheme_of(url) != CLUSTER or _HASH_TAG.search(prefix):
        return prefix
    return f"{{{prefix}}}"


def replica_wait(url: str) -> ReplicaWait | None:
    """The ``wait_replicas`` (and ``wait_timeout``, ms) a URL asks publishes to wait for, if
    any."""
    query = dict(parse_qsl(urlsplit(url).query))
    if not any(name in query for name in _WAIT_PARAMS):
        return None
    if scheme_of(url) not in ("redis", "rediss", SENTINEL):
        raise ValidationError("url", "wait_replicas and wait_timeout are for redis://, rediss:// "
                                     f"and redis+sentinel:// URLs, not {redact(url)!r}")
    replicas = _count(query.get("wait_replicas", "1"), "wait_replicas", 1, 100)
    timeout = _count(query.get("wait_timeout", str(DEFAULT_TIMEOUT_MS)), "wait_timeout", 1,
                     60_000)
    return ReplicaWait(replicas, timeout)


def memory_server(url: str) -> Any:
    """The fakeredis server behind a ``memory://`` URL, made on first use."""
    import fakeredis  # only the embedded broker needs it

    name = urlsplit(url).netloc or "default"
    server = _memory_servers.get(name)
    if server is None:  # threads may ask at once: the first one stored is everyone's
        server = _memory_servers.setdefault(name, fakeredis.FakeServer())
    return server


def async_client(url: str, *, socket_timeout: float | None = 10.0) -> AsyncClient:
    """An asyncio client; ``socket_timeout`` must outlast any ``XREAD BLOCK`` made with it."""
    scheme = scheme_of(url)
    if scheme == "memory":
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=memory_server(url))
    retry = redis.asyncio.retry.Retry(NoBackoff(), 0)  # our Backoff decides, not redis-py
    if scheme == SENTINEL:
        hosts = _Hosts.parse(url)
        sentinels = redis.asyncio.sentinel.Sentinel(hosts.hosts,
                                                    sentinel_kwargs=hosts.sentinel_options())
        master: _AsyncSentinelMaster = sentinels.master_for(
            hosts.service, redis_class=_AsyncSentinelMaster, socket_timeout=socket_timeout,
            retry=retry, **hosts.node_options(), **_tcp_options(url))
        return master
    if scheme == CLUSTER:
        hosts = _Hosts.parse(url)
        return redis.asyncio.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in hosts.hosts],
            socket_timeout=socket_timeout, **hosts.node_options(), **_tcp_options(url))
    return redis.asyncio.Redis.from_url(_without_wait(url), socket_timeout=socket_timeout,
                                        **_tcp_options(url), retry=retry)


def sync_client(url: str) -> SyncClient:
    scheme = scheme_of(url)
    if scheme == "memory":
        import fakeredis

        return fakeredis.FakeRedis(server=memory_server(url))
    retry = redis.retry.Retry(NoBackoff(), 0)
    if scheme == SENTINEL:
        hosts = _Hosts.parse(url)
        sentinels = redis.sentinel.Sentinel(hosts.hosts, sentinel_kwargs=hosts.sentinel_options())
        master: _SentinelMaster = sentinels.master_for(
            hosts.service, redis_class=_SentinelMaster, socket_timeout=10, retry=retry,
            **hosts.node_options(), **_tcp_options(url))
        return master
    if scheme == CLUSTER:
        hosts = _Hosts.parse(url)
        return redis.cluster.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p)  # type: ignore[no-untyped-call]
                           for h, p in hosts.hosts],
            socket_timeout=10, **hosts.node_options(), **_tcp_options(url))
    return redis.Redis.from_url(_without_wait(url), socket_timeout=10, **_tcp_options(url),
                                retry=retry)


async def drop_idle_connections(client: AsyncClient) -> None:
    """Close the connections not in use, so the next command connects afresh: after a
    ``READONLY`` answer, a proxy or DNS name may lead to the new primary. (A Sentinel client
    asks the sentinels again by itself; a Cluster client follows ``MOVED``.)"""
    if isinstance(client, redis.asyncio.Redis):
        await client.connection_pool.disconnect(inuse_connections=False)


def drop_idle_connections_sync(client: SyncClient) -> None:
    """``drop_idle_connections`` for a blocking client."""
    if isinstance(client, redis.Redis):
        client.connection_pool.disconnect(inuse_connections=False)


class _AsyncSentinelMaster(redis.asyncio.Redis):
    """The master's client; closing it closes the connections to the sentinels too (one by
    one: redis-py's ``Sentinel.aclose`` is recent)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            await sentinel.aclose()


class _SentinelMaster(redis.Redis):
    """The master's client; closing it closes the connections to the sentinels too."""

    def close(self) -> None:
        super().close()
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            sentinel.close()


@dataclass(frozen=True)
class _Hosts:
    """A Sentinel or Cluster URL taken apart."""

    hosts: list[tuple[str, int]]
    username: str | None
    password: str | None
    service: str
    """The Sentinel service (the master's name in ``sentinel monitor``); empty for a cluster."""
    db: int
    query: dict[str, str]

    @classmethod
    def parse(cls, url: str) -> _Hosts:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        userinfo, _, netloc = parts.netloc.rpartition("@")
        default_port = SENTINEL_PORT if scheme == SENTINEL else CLUSTER_PORT
        hosts = [_host(h, default_port, url) for h in netloc.split(",")]
        path = [unquote(p) for p in parts.path.split("/")[1:]]
        query = dict(parse_qsl(parts.query))
        allowed = _SENTINEL_PARAMS if scheme == SENTINEL else ()
        if unknown := [k for k in query if k not in allowed]:
            raise ValidationError("url", f"{scheme}:// takes no parameter {unknown[0]!r} (it "
                                         f"takes {', '.join(allowed) or 'none'}): "
                                         f"{redact(url)!r}")
        if scheme == SENTINEL:
            service, db = _sentinel_path(path, url)
        else:
            _check_cluster_client()
            service, db = "", _cluster_db(path, url)
        username, _, password = userinfo.partition(":")
        return cls(hosts, unquote(username) or None, unquote(password) or None, service, db,
                   query)

    def node_options(self) -> dict[str, Any]:
        """How to log in to the data nodes (and, for Sentinel, which db)."""
        options: dict[str, Any] = {"username": self.username, "password": self.password}
        return {**options, "db": self.db} if self.service else options

    def sentinel_options(self) -> dict[str, Any]:
        """How to reach the sentinels: their own credentials, and short timeouts, since asking
        one that does not answer only delays asking the next."""
        return {"username": self.query.get("sentinel_username"),
                "password": self.query.get("sentinel_password"),
                "socket_timeout": 5, "socket_connect_timeout": 5, "socket_keepalive": True}


def _host(text: str, default_port: int, url: str) -> tuple[str, int]:
    """``host[:port]`` (``[::1]:port`` for IPv6) of a comma-separated host list."""
    try:
        parts = urlsplit(f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host = None
    if not host:
        raise ValidationError("url", f"{text!r} is not host[:port] in the host list of "
                                     f"{redact(url)!r}")
    return host, port or default_port


def _sentinel_path(path: list[str], url: str) -> tuple[str, int]:
    """``/<service>[/<db>]``."""
    service, db = [*path, "", ""][:2]
    if not service:
        raise ValidationError("url", "the Sentinel service name is missing: "
                                     "redis+sentinel://host:26379[,host:26379]/<service>[/<db>], "
                                     f"not {redact(url)!r}")
    if len(path) > 2 or not (db == "" or (db.isascii() and db.isdigit())):
        raise ValidationError("url", f"the db after the service name must be a number "
                                     f"(/<service>/<db>), not {'/'.join(path[1:])!r} in "
                                     f"{redact(url)!r}")
    return service, int(db or 0)


def _check_cluster_client() -> None:
    version = tuple(int(part) for part in re.findall(r"[0-9]+", redis.__version__)[:2])
    if version < CLUSTER_REDIS_PY:
        wanted = ".".join(map(str, CLUSTER_REDIS_PY))
        raise ValidationError("url", f"redis+cluster:// needs redis-py {wanted} or newer, not "
                                     f"{redis.__version__} (pip install 'redis>={wanted}')")


def _cluster_db(path: list[str], url: str) -> int:
    """A cluster has db 0 only: the path may name it, or be empty."""
    if any(p not in ("", "0") for p in path) or len(path) > 1:
        raise ValidationError("url", f"a Redis Cluster has db 0 only; the URL's path must be "
                                     f"empty or /0, not {redact(url)!r}")
    return 0


def _count(text: str, name: str, least: int, most: int) -> int:
    if not (text.isascii() and text.isdigit()) or not least <= int(text) <= most:
        raise ValidationError(name, f"must be a whole number from {least} to {most}, not "
                                    f"{text[:20]!r}")
    return int(text)


def _without_wait(url: str) -> str:
    """The URL without the parameters redis-py does not know (it would refuse them)."""
    parts = urlsplit(url)
    if not any(name in parts.query for name in _WAIT_PARAMS):
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in _WAIT_PARAMS]
    return parts._replace(query=urlencode(query)).geturl()


def _tcp_options(url: str) -> dict[str, Any]:
    """Keepalive notices a dead peer on TCP; unix sockets take neither option."""
    if scheme_of(url) == "unix":
        return {}
    return {"socket_connect_timeout": 5, "socket_keepalive": True}
