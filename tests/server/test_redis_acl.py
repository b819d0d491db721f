"""The Redis ACL of ``docs/security.md``, applied to a real ``redis-server``: alice's server runs
with her credentials (hello, delivery, inbox state), and Redis itself refuses her another user's
stream and state, and refuses the publisher anything but ``XADD``.

The ACL is the page's ``acl`` block, read from the page: what is documented is what is tested.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import redis.exceptions

from .clients import Client, free_port, messages
from .test_embedded_restart import call
from .test_inbox import change, send
from .test_inbox_servers import server_of, until_in_inbox

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

DOC = Path(__file__).parents[2] / "docs" / "security.md"
START_TIMEOUT = 10.0


def documented_acl() -> str:
    """The one ``acl`` fenced block of docs/security.md."""
    [block] = re.findall(r"^```acl\n(.*?)^```", DOC.read_text(), re.S | re.M)
    return str(block)


def passwords(acl: str) -> dict[str, str]:
    """Each user's plain-text password (``>...``) as the page gives it."""
    return dict(re.findall(r"^user (\S+) on >(\S+)", acl, re.M))


class AclRedis:
    """A redis-server of this test's own, loaded with an ACL file."""

    def __init__(self, directory: Path, acl: str) -> None:
        self.port = free_port()
        self.passwords = passwords(acl)
        (directory / "users.acl").write_text(acl)
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be on PATH"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
             "--save", "", "--appendonly", "no", "--aclfile", str(directory / "users.acl"),
             "--logfile", str(directory / "redis.log")], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            assert self.process.poll() is None, (directory / "redis.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def url(self, user: str) -> str:
        return f"redis://{user}:{quote(self.passwords[user], safe='')}@127.0.0.1:{self.port}/0"

    def client(self, user: str) -> redis.Redis:
        return redis.Redis.from_url(self.url(user), socket_timeout=START_TIMEOUT)

    def _answers(self) -> bool:
        try:
            return bool(self.client("jln-admin").ping())
        except redis.exceptions.ConnectionError:
            return False

    def denials(self, user: str) -> list[tuple[str, str]]:
        """(reason, object) of each ``ACL LOG`` entry of ``user``."""
        entries = self.client("jln-admin").acl_log(count=1000)
        return [(str(e["reason"]), str(e["object"])) for e in entries
                if isinstance(e, dict) and e["username"] == user]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(START_TIMEOUT)


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[AclRedis]:
    server = AclRedis(tmp_path, documented_acl())
    yield server
    server.stop()


def alice_server(jupyter_process: Callable[..., Any], acl_redis: AclRedis) -> Any:
    """alice's server (group ml) on her Redis credentials, sweeping every second so the test
    sees what the sweep is refused."""
    return server_of(jupyter_process, acl_redis.url("alice"), "alice", "--JLN.groups=ml",
                      "--JLN.retention_sweep_interval=1")


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def refused(action: Callable[[], Any]) -> str:
    """Redis's refusal of ``action``: it must be one (NOPERM)."""
    with pytest.raises(redis.exceptions.NoPermissionError) as err:
        action()
    return str(err.value)


async def test_alices_server_runs_on_her_credentials_and_redis_refuses_her_bobs(
        jupyter_process: Callable[..., Any], ws_connect: Any, acl_redis: AclRedis) -> None:
    acl_redis.client("jln-admin").set("jln:epoch", "written-by-the-admin", nx=True)
    alice = await asyncio.to_thread(alice_server, jupyter_process, acl_redis)
    tab: Client = await ws_connect(alice)
    hello = await tab.hello()

    mine = await send(alice, "Your training run finished", users=["alice"])
    publisher = acl_redis.client("jln-publisher")
    to_ml = text(publisher.xadd("jln:group:ml", {"message": "GPU queue drained"}))
    publisher.xadd("jln:user:bob", {"message": "for bob only"})
    await until_in_inbox(alice, f"jln:group:ml/{to_ml}")
    pushed, _, _ = await tab.notifications(2)
    await tab.nothing_more(0.5)
    read = await change(alice, {"ids": [mine], "read": True})
    code, receipts = await call(alice, "GET", f"notifications/{quote(mine, safe='')}/receipts")
    to_bob, refusal = await call(alice, "POST", "notifications",
                                 {"message": "hi bob", "users": ["bob"]})
    await asyncio.sleep(1.5)  # a sweep or more, refused on the shared streams
    _, status = await call(alice, "GET", "status")

    assert hello["type"] == "hello"
    assert messages(pushed) == ["Your training run finished", "GPU queue drained"]
    assert read == {"updated": 1, "unread": 1}
    admin = acl_redis.client("jln-admin")
    assert admin.hget("jln:inbox:alice:read", mine) is not None
    assert admin.sismember("jln:readers:broadcast", "alice")
    assert code == 200 and [r["user"] for r in receipts["read"]] == ["alice"], receipts
    assert to_bob == 502 and "permissions" in refusal["error"], refusal
    assert admin.xlen("jln:user:bob") == 1  # nothing written for alice's request
    assert status["reader"]["connected"] and status["broker"]["reachable"], status
    assert status["reader"]["epoch"] == "written-by-the-admin"
    server_denials = set(acl_redis.denials("alice"))
    assert server_denials <= {("key", "jln:broadcast"), ("key", "jln:group:ml"),
                              ("key", "jln:user:bob")}, server_denials
    assert ("key", "jln:broadcast") in server_denials  # the sweep: refused, logged, survived
    assert "retention sweep failed" in alice.log_tail(400)

    as_alice = acl_redis.client("alice")
    probes = {
        "XREAD bob": lambda: as_alice.xread({"jln:user:bob": "0-0"}),
        "XRANGE bob": lambda: as_alice.xrange("jln:user:bob"),
        "HGETALL bob's read": lambda: as_alice.hgetall("jln:inbox:bob:read"),
        "GET bob's version": lambda: as_alice.get("jln:inbox:bob:version"),
        "HSET bob's read": lambda: as_alice.hset("jln:inbox:bob:read", mine, 1),
        "SMEMBERS readers": lambda: as_alice.smembers("jln:readers:broadcast"),
        "XADD broadcast": lambda: as_alice.xadd("jln:broadcast", {"message": "x"}),
        "XTRIM broadcast": lambda: as_alice.xtrim("jln:broadcast", maxlen=0),
        "XRANGE a group not hers": lambda: as_alice.xrange("jln:group:ops"),
        "DEL her own stream": lambda: as_alice.delete("jln:user:alice"),
        "SET the epoch": lambda: as_alice.set("jln:epoch", "mine"),
        "KEYS": lambda: as_alice.keys("*"),
    }
    refusals = {name: refused(probe) for name, probe in probes.items()}
    assert all("NOPERM" in r or "permissions" in r for r in refusals.values()), refusals
    print(f"redis acl: {len(probes)} commands of alice refused; her server met only "
          f"{sorted(server_denials)} and kept serving")


async def test_the_publisher_may_only_xadd(acl_redis: AclRedis) -> None:
    publisher = acl_redis.client("jln-publisher")
    admin = acl_redis.client("jln-admin")
    admin.hset("jln:inbox:alice:read", "x", 1)

    written = publisher.xadd("jln:broadcast", {"message": "Maintenance at 6"})

    assert [entry_id for entry_id, _ in admin.xrange("jln:broadcast") or []] == [written]
    probes = {
        "XREAD": lambda: publisher.xread({"jln:broadcast": "0-0"}),
        "XRANGE": lambda: publisher.xrange("jln:broadcast"),
        "HGETALL state": lambda: publisher.hgetall("jln:inbox:alice:read"),
        "XADD elsewhere": lambda: publisher.xadd("other:stream", {"message": "x"}),
        "DEL": lambda: publisher.delete("jln:broadcast"),
        "EVAL": lambda: publisher.eval("return 1", 0),
        "FLUSHALL": lambda: publisher.flushall(),
        "ACL": lambda: publisher.acl_list(),
    }
    refusals = {name: refused(probe) for name, probe in probes.items()}
    assert len(refusals) == len(probes)
    assert admin.xlen("jln:broadcast") == 1 and admin.hget("jln:inbox:alice:read", "x") == b"1"


async def test_bob_cannot_read_alices_stream_or_her_group(acl_redis: AclRedis) -> None:
    acl_redis.client("jln-publisher").xadd("jln:user:alice", {"message": "private"})
    as_bob = acl_redis.client("bob")

    assert as_bob.xrange("jln:broadcast") == []
    for probe in (lambda: as_bob.xrange("jln:user:alice"),
                  lambda: as_bob.xread({"jln:group:ml": "0-0"}),
                  lambda: as_bob.hgetall("jln:inbox:alice:read")):
        refused(probe)
