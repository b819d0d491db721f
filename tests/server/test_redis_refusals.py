"""A real ``jupyter server`` whose Redis refuses: full (``maxmemory`` under ``noeviction``), a
read-only replica after a failover (a second redis-server and ``REPLICAOF``), and an ACL that
takes XADD and XREAD from the server's own Redis user. Every ingest path answers plainly (503
with ``Retry-After`` while it passes, 502 for the ACL), no target stream is written, the
reader says what is wrong in ``GET jln/api/status`` while it is, and once the condition is
lifted everything published before, during (by a client that retries, or by another publisher
straight to Redis) and after reaches a WebSocket tab exactly once."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer

from jln_broker.publisher import Publisher

from .clients import Client
from .conftest import JupyterProcess

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

SECRET = "refusal-test-secret"
ALERT = (Path(__file__).parent.parent / "fixtures" / "hooks" / "alertmanager-firing.json")


def call(server: JupyterProcess, path: str, body: Any = None, *,
         raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    """One request with the server's token (and the publishers' secret): status, headers and
    JSON answer."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(server.url + path, data=data, headers={
        "Authorization": f"token {server.token}", "X-JLN-Secret": SECRET,
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def ingest_paths(owner: str) -> list[tuple[str, Any]]:
    """Every way in: the REST ingest (to the owner, another user and a group at once), the
    compat alias, and Alertmanager's webhook."""
    return [("jln/api/notifications", {"message": "m", "users": [owner, "bob"],
                                       "groups": ["ml"]}),
            ("jupyterlab-notifications-extension/ingest", {"message": "m"}),
            (f"jln/api/hooks/alertmanager?users={owner}", json.loads(ALERT.read_text()))]


def targets(owner: str) -> tuple[str, ...]:
    """Every stream an ingest path above writes: ``post`` and the compat alias broadcast."""
    return ("jln:broadcast", f"jln:user:{owner}", "jln:user:bob", "jln:group:ml")


def xlens(redis: RedisServer, streams: tuple[str, ...]) -> list[int]:
    return [int(redis.cli("XLEN", s)) for s in streams]


def status(server: JupyterProcess) -> dict[str, Any]:
    code, _, answer = call(server, "jln/api/status")
    assert code == 200, answer
    return dict(answer)


def post(server: JupyterProcess, message: str) -> None:
    code, _, answer = call(server, "jln/api/notifications", {"message": message})
    assert code == 201, answer


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def received_exactly(tab: Client, messages: list[str]) -> None:
    """These notifications in this order, then none for a second; frames telling the broker's
    state (sent while it refused) are passed over."""
    got: list[str] = []
    while len(got) < len(messages):
        frame = await tab.frame()
        if frame["type"] != "broker":
            assert frame["type"] == "notifications", frame
            got += [i["message"] for i in frame["notifications"]]
    assert got == messages
    await tab.nothing_more(1.0)


@pytest.fixture
def second_redis(tmp_path: Path, redis_server: RedisServer) -> Iterator[RedisServer]:
    server = RedisServer(str(shutil.which("redis-server")), tmp_path)
    server.start()
    yield server
    server.stop()
    redis_server.cli("REPLICAOF", "NO", "ONE")


@pytest.fixture
def memory_lifted(redis_server: RedisServer) -> Iterator[None]:
    yield
    redis_server.cli("CONFIG", "SET", "maxmemory", "0")


@pytest.fixture
def acl_user(redis_server: RedisServer) -> Iterator[None]:
    """The server's own Redis user ``jln`` (password ``pw``), free on ``jln:*``; gone after."""
    redis_server.cli("ACL", "SETUSER", "jln", "reset", "on", ">pw", "~jln:*", "&*", "+@all")
    yield
    redis_server.cli("ACL", "DELUSER", "jln")


async def open_server(jupyter_process: Callable[..., JupyterProcess], url: str,
                      ws_connect: Callable[..., Any]) -> tuple[JupyterProcess, Client, str]:
    server = jupyter_process(url, f"--JLN.publisher_secret={SECRET}")
    tab: Client = await ws_connect(server)
    hello = await tab.hello()
    return server, tab, str(hello["user"])


async def test_full_redis_is_a_503_at_every_ingest_and_loses_nothing(
        jupyter_process: Callable[..., JupyterProcess], ws_connect: Callable[..., Any],
        redis_server: RedisServer, redis_url: str, memory_lifted: None) -> None:
    server, tab, owner = await open_server(jupyter_process, redis_url, ws_connect)
    post(server, "before")
    redis_server.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_server.cli("CONFIG", "SET", "maxmemory", "1")

    answers = [call(server, path, body) for path, body in ingest_paths(owner)]
    retried = asyncio.create_task(asyncio.to_thread(_publish_retrying, server, "during"))
    await asyncio.sleep(1.0)  # the retrying client meets a few 503s
    seen = status(server)
    redis_server.cli("CONFIG", "SET", "maxmemory", "0")
    await retried
    post(server, "after")

    for code, headers, body in answers:
        assert (code, headers.get("Retry-After")) == (503, "30"), body
        assert "Redis is out of memory" in body["error"] and "nothing was written" in body[
            "error"]
    assert answers[0][2]["field"] is None
    assert xlens(redis_server, targets(owner)) == [3, 0, 0, 0]
    assert seen["broker"]["reachable"] and seen["ingest"]["rejected"] >= 3  # reading goes on
    await received_exactly(tab, ["before", "during", "after"])


def _publish_retrying(server: JupyterProcess, message: str) -> None:
    """A client as ``jln send`` through the server is: it retries a 503 for a while."""
    with Publisher(server.url, token=server.token, retry_for=30) as publisher:
        publisher.publish(message)


async def test_a_failover_is_a_503_until_redis_writes_again(
        jupyter_process: Callable[..., JupyterProcess], ws_connect: Callable[..., Any],
        redis_server: RedisServer, redis_url: str, second_redis: RedisServer) -> None:
    server, tab, owner = await open_server(jupyter_process, redis_url, ws_connect)
    post(server, "before")
    old, new = redis_server, second_redis
    new.cli("REPLICAOF", "127.0.0.1", str(old.port))
    await until(lambda: xlens(new, targets(owner)[:1]) == [1])
    new.cli("REPLICAOF", "NO", "ONE")  # the failover: the server's Redis is now a replica
    old.cli("REPLICAOF", "127.0.0.1", str(new.port))

    answers = [call(server, path, body) for path, body in ingest_paths(owner)]
    with Publisher(new.url) as elsewhere:  # another publisher reaching the new primary
        elsewhere.publish("during", users=[owner])
    old.cli("REPLICAOF", "NO", "ONE")
    post(server, "after")

    for code, headers, body in answers:
        assert (code, headers.get("Retry-After")) == (503, "5"), body
        assert "read-only replica" in body["error"] and "READONLY" in body["error"]
    assert xlens(old, targets(owner)) == [2, 1, 0, 0]
    await received_exactly(tab, ["before", "during", "after"])


async def test_an_acl_refusal_is_a_502_naming_the_stream_and_the_reader_recovers(
        jupyter_process: Callable[..., JupyterProcess], ws_connect: Callable[..., Any],
        redis_server: RedisServer, redis_url: str, acl_user: None) -> None:
    server, tab, owner = await open_server(
        jupyter_process, redis_url.replace("redis://", "redis://jln:pw@"), ws_connect)
    post(server, "before")
    redis_server.cli("ACL", "SETUSER", "jln", "-xadd", "-xread")

    answers = [call(server, path, body) for path, body in ingest_paths(owner)]
    with Publisher(redis_url) as admin:  # the default user may still write
        admin.publish("during", users=[owner])
    await until(lambda: not status(server)["broker"]["reachable"])
    down = status(server)
    redis_server.cli("ACL", "SETUSER", "jln", "+xadd", "+xread")
    await until(lambda: status(server)["broker"]["reachable"])
    post(server, "after")

    named = [f"jln:user:{owner}", "jln:broadcast", f"jln:user:{owner}"]  # each one's first
    for (code, headers, body), stream in zip(answers, named, strict=True):
        assert code == 502 and "Retry-After" not in headers, body
        assert f"ACL does not let the broker URL's user write {stream};" in body["error"]
    assert "xread" in down["broker"]["lastError"].lower()
    assert "lost the broker" in server.log_tail(200)
    await received_exactly(tab, ["before", "during", "after"])
    assert xlens(redis_server, targets(owner)) == [2, 1, 0, 0]


async def test_a_wrong_type_among_the_targets_writes_none(
        jupyter_process: Callable[..., JupyterProcess], ws_connect: Callable[..., Any],
        redis_server: RedisServer, redis_url: str) -> None:
    server, tab, owner = await open_server(jupyter_process, redis_url, ws_connect)
    redis_server.cli("SET", "jln:group:ml", "not a stream")

    code, _, body = call(server, *ingest_paths(owner)[0])

    assert code == 502 and "WRONGTYPE jln:group:ml" in body["error"], body
    assert xlens(redis_server, targets(owner)[:3]) == [0, 0, 0]
    await tab.nothing_more(1.0)
