"""The one place that reads a broker URL's scheme, and turns a URL into a Redis client.

``redis://``, ``rediss://`` and ``unix://`` reach a real Redis; ``memory://[name]`` is the
embedded broker, an in-process fakeredis server shared by every client of this process that
names it, so the Jupyter server's reader and its REST ingest see the same streams without any
Redis installed; ``http(s)://`` is a Jupyter server's REST ingest (``kind`` says which).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff

from .errors import ValidationError

REDIS_SCHEMES = ("redis", "rediss", "unix")
HTTP_SCHEMES = ("http", "https")

_memory_servers: dict[str, Any] = {}


def scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in (*REDIS_SCHEMES, "memory", *HTTP_SCHEMES):
        raise ValidationError("url", f"scheme must be one of redis, rediss, unix, memory, http, "
                                     f"https, not {scheme or 'missing'!r} (in {redact(url)!r})")
    return scheme


Kind = Literal["redis", "memory", "http"]


def kind(url: str) -> Kind:
    """What a URL reaches: a Redis server, this process's embedded broker, or a Jupyter
    server's REST ingest. Refuses any other scheme, naming the URL."""
    scheme = scheme_of(url)
    if scheme == "memory":
        return "memory"
    return "http" if scheme in HTTP_SCHEMES else "redis"


def redact(url: str) -> str:
    """The URL without its password or token, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    return url.split("?", 1)[0]


def memory_server(url: str) -> Any:
    """The fakeredis server behind a ``memory://`` URL, made on first use."""
    import fakeredis  # only the embedded broker needs it

    name = urlsplit(url).netloc or "default"
    if name not in _memory_servers:
        _memory_servers[name] = fakeredis.FakeServer()
    return _memory_servers[name]


def async_client(url: str, *, socket_timeout: float | None = 10.0) -> redis.asyncio.Redis:
    """An asyncio client; ``socket_timeout`` must outlast any ``XREAD BLOCK`` made with it."""
    if kind(url) == "memory":
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=memory_server(url))
    return redis.asyncio.Redis.from_url(
        url, socket_timeout=socket_timeout, **_tcp_options(url),
        retry=redis.asyncio.retry.Retry(NoBackoff(), 0),  # our Backoff decides, not redis-py
    )


def sync_client(url: str) -> redis.Redis:
    if kind(url) == "memory":
        import fakeredis

        return fakeredis.FakeRedis(server=memory_server(url))
    return redis.Redis.from_url(url, socket_timeout=10, **_tcp_options(url),
                                retry=redis.retry.Retry(NoBackoff(), 0))


def _tcp_options(url: str) -> dict[str, Any]:
    """Keepalive notices a dead peer on TCP; unix sockets take neither option."""
    if scheme_of(url) == "unix":
        return {}
    return {"socket_connect_timeout": 5, "socket_keepalive": True}
