"""Redis refusing a publish, for real: full (``maxmemory`` under ``noeviction``), a read-only
replica (a second redis-server made one with ``REPLICAOF``), and ACL users that may not write
every target. Each answer says what happened and what to do, and no target stream is written,
not even when only one of several targets is refused. A failover behind a proxy heals by
itself: the publisher drops the connection that met ``READONLY`` and reaches the new primary.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer

from jln_broker.errors import BrokerForbidden, BrokerFull, BrokerReadOnly, BrokerRefused
from jln_broker.publisher import AsyncPublisher, Publisher

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
AUDIENCE: dict[str, Any] = {"users": ["ada", "bob"], "groups": ["ml"]}
TARGETS = ("jln:user:ada", "jln:user:bob", "jln:group:ml")


def xlens(server: RedisServer, streams: tuple[str, ...] = TARGETS) -> list[int]:
    return [int(server.cli("XLEN", s)) for s in streams]


def authed(url: str, user: str) -> str:
    return url.replace("redis://", f"redis://{user}:pw@")


@pytest.fixture
def full(redis_server: RedisServer, redis_url: str) -> Iterator[str]:
    """The test Redis at its memory limit with nothing to evict; the limit lifted after."""
    redis_server.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_server.cli("CONFIG", "SET", "maxmemory", "1")
    try:
        yield redis_url
    finally:
        redis_server.cli("CONFIG", "SET", "maxmemory", "0")


@pytest.fixture
def acl_user(redis_server: RedisServer, redis_url: str) -> Iterator[str]:
    """A user ``pub`` (password ``pw``) each test gives its rules; deleted after."""
    yield "pub"
    redis_server.cli("ACL", "DELUSER", "pub")


@pytest.fixture
def second_redis(tmp_path: Path, redis_server: RedisServer) -> Iterator[RedisServer]:
    """Another redis-server on a free port of its own, to be made a replica or a primary;
    the test Redis is a primary again after."""
    server = RedisServer(str(shutil.which("redis-server")), tmp_path)
    server.start()
    yield server
    server.stop()
    redis_server.cli("REPLICAOF", "NO", "ONE")


def test_full_redis_answers_at_once_and_writes_nothing(full: str,
                                                       redis_server: RedisServer) -> None:
    started = time.monotonic()
    with Publisher(full, retry_for=10) as publisher, pytest.raises(BrokerFull) as refused:
        publisher.publish("disk report", **AUDIENCE)

    assert time.monotonic() - started < 2  # not retried for retry_for: someone must act
    assert "out of memory" in str(refused.value) and "nothing was written" in str(refused.value)
    assert "OOM" in str(refused.value) and refused.value.retry_after == 30
    redis_server.cli("CONFIG", "SET", "maxmemory", "0")
    assert xlens(redis_server) == [0, 0, 0]
    with Publisher(full) as publisher:  # the limit lifted: the same publish goes through
        assert len(publisher.publish("disk report", **AUDIENCE)) == 3
    assert xlens(redis_server) == [1, 1, 1]


def test_a_replica_answers_read_only_after_retrying(redis_server: RedisServer, redis_url: str,
                                                    second_redis: RedisServer) -> None:
    second_redis.cli("REPLICAOF", "127.0.0.1", str(redis_server.port))
    started = time.monotonic()
    with Publisher(second_redis.url, retry_for=1) as publisher, \
            pytest.raises(BrokerReadOnly) as refused:
        publisher.publish("hi", **AUDIENCE)

    assert 1 <= time.monotonic() - started < 5
    assert "read-only replica" in str(refused.value) and "READONLY" in str(refused.value)
    assert refused.value.retry_after == 5
    assert xlens(redis_server) == [0, 0, 0] and xlens(second_redis) == [0, 0, 0]


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class Proxy:
    """A loopback TCP proxy whose new connections go to ``target``: a failover behind a
    virtual address. Connections already made stay where they are."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(_forward(reader, up_writer), _forward(up_reader, writer))


@pytest.mark.asyncio
async def test_a_failover_behind_a_proxy_heals_without_a_lost_or_doubled_entry(
        redis_server: RedisServer, redis_url: str, second_redis: RedisServer) -> None:
    old, new = redis_server, second_redis
    proxy = Proxy(old.port)
    async with proxy as url, AsyncPublisher(url, retry_for=10) as publisher:
        await publisher.publish("before", users=["ada"])
        new.cli("REPLICAOF", "127.0.0.1", str(old.port))  # failover: the replica takes over
        await _until(lambda: xlens(new, ("jln:user:ada",)) == [1])
        new.cli("REPLICAOF", "NO", "ONE")
        old.cli("REPLICAOF", "127.0.0.1", str(new.port))
        proxy.target = new.port

        ids = await publisher.publish("after", users=["ada"])  # meets READONLY, reconnects
        old.cli("REPLICAOF", "NO", "ONE")

    entries = new.cli("XRANGE", "jln:user:ada", "-", "+")
    assert xlens(new, ("jln:user:ada",)) == [2] and ids[0].rsplit("/", 1)[1] in entries


@pytest.mark.parametrize("rules,named", [
    (["~*", "+@all", "-xadd"], "jln:user:ada"),  # may not XADD at all: the first target named
    (["~*", "+@all", "-set"], "jln:idem:"),  # XADD but not SET: once wrote every stream, then
                                             # failed, and a retry wrote them all again
    (["~jln:user:*", "~jln:idem:*", "+@all"], "one of jln:user:ada, jln:user:bob, jln:group:ml"),
])
def test_an_acl_refusal_of_one_target_writes_none(
        rules: list[str], named: str, acl_user: str, redis_url: str,
        redis_server: RedisServer) -> None:
    redis_server.cli("ACL", "SETUSER", acl_user, "on", ">pw", *rules)
    with Publisher(authed(redis_url, acl_user), retry_for=5) as publisher, \
            pytest.raises(BrokerForbidden) as refused:
        publisher.publish("hi", **AUDIENCE)

    assert "ACL does not let" in str(refused.value) and named in str(refused.value)
    assert "NOPERM" in str(refused.value) and "nothing was written" in str(refused.value)
    assert xlens(redis_server) == [0, 0, 0]
    assert redis_server.cli("KEYS", "jln:idem:*").strip() == ""


def test_a_wrong_type_among_targets_writes_none(redis_url: str,
                                                redis_server: RedisServer) -> None:
    redis_server.cli("SET", "jln:group:ml", "not a stream")
    with Publisher(redis_url) as publisher, pytest.raises(BrokerRefused) as refused:
        publisher.publish("hi", **AUDIENCE)

    assert "WRONGTYPE jln:group:ml" in str(refused.value)
    assert xlens(redis_server, TARGETS[:2]) == [0, 0]


def test_refused_credentials_answer_at_once(acl_user: str, redis_url: str,
                                            redis_server: RedisServer) -> None:
    redis_server.cli("ACL", "SETUSER", acl_user, "on", ">right", "~*", "+@all")
    started = time.monotonic()
    with Publisher(authed(redis_url, acl_user), retry_for=10) as publisher, \
            pytest.raises(BrokerForbidden) as refused:
        publisher.publish("hi", users=["ada"])

    assert time.monotonic() - started < 2  # was retried for 10 s and called unreachable
    assert "refused the credentials" in str(refused.value) and "WRONGPASS" in str(refused.value)


def jln_send(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JLN_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "jln_broker.cli", "send", "--url", url,
                           "--retry-for", "1", *args], capture_output=True, text=True,
                          timeout=30, env=env, cwd=REPO)


def test_jln_send_refused_exits_1_saying_why(full: str, acl_user: str,
                                             redis_server: RedisServer) -> None:
    oom = jln_send(full, "hi", "--user", "ada")
    redis_server.cli("CONFIG", "SET", "maxmemory", "0")
    redis_server.cli("ACL", "SETUSER", acl_user, "on", ">pw", "~*", "+@all", "-xadd")
    acl = jln_send(authed(full, acl_user), "hi", "--user", "ada")

    assert (oom.returncode, oom.stdout) == (1, "")
    assert oom.stderr.startswith("jln: error: Redis is out of memory")
    assert (acl.returncode, acl.stdout) == (1, "")
    assert "may not XADD to jln:user:ada" in acl.stderr
    assert xlens(redis_server, ("jln:user:ada",)) == [0]


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
