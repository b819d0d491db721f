"""The embedded broker kept in a file: every Redis type JLN writes comes back as it was, a save
cut short leaves the old file whole, a damaged file is set aside, and nothing is written when
nothing changed."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis

from jln_broker import connection, embedded
from jln_broker.connection import sync_client
from jln_broker.embedded import EmbeddedStore
from jln_broker.publisher import Publisher

DAY_MS = 86_400_000


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "not-there-yet" / "embedded-broker.msgpack"


@pytest.fixture
def stores() -> Iterator[Callable[..., EmbeddedStore]]:
    """``stores(path, interval=...)``: a store on a fresh ``memory://`` broker of its own;
    closed, and its broker forgotten, after the test."""
    made: list[EmbeddedStore] = []

    def make(path: Path, interval: float = 1.0) -> EmbeddedStore:
        store = EmbeddedStore(f"memory://embedded-{uuid.uuid4().hex[:12]}", path,
                              interval=interval)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
        connection._memory_servers.pop(store.url.removeprefix("memory://"), None)


def client(store: EmbeddedStore) -> redis.Redis:
    return sync_client(store.url)


def fill(r: redis.Redis) -> None:
    """One key of every type JLN writes, as the server and the publisher leave them."""
    r.xadd("jln:broadcast", {"p": b"\x81\xa7message\xa2hi"}, id="1700000000000-0")
    r.xadd("jln:broadcast", {"p": b"second", "dup": "a"}, id="1700000000000-7")
    r.xadd("jln:broadcast", {"p": b"deleted later"}, id="1700000000005-0")
    r.xdel("jln:broadcast", "1700000000005-0")  # the last generated id is now past the last entry
    r.xadd("jln:user:ada", {"p": b"trimmed"}, id="1700000000001-0")
    r.xtrim("jln:user:ada", maxlen=0)  # an empty stream that still remembers its last id
    r.hset("jln:inbox:ada:read", mapping={"jln:broadcast/1700000000000-0": "1700000000123",
                                          "jln:broadcast/1700000000000-7": "0"})
    r.hset("jln:inbox:ada:joined", "jln:broadcast", "0-0")
    r.sadd("jln:readers:broadcast", "ada", "bob")
    r.zadd("jln:scores", {"low": -1.5, "high": 1e300, "top": float("inf")})
    r.rpush("jln:list", "a", "b", "a")
    r.incr("jln:inbox:ada:version")
    r.set("jln:idem:k1", '[["jln:broadcast/1700000000000-0"]]', px=DAY_MS)


def contents(r: redis.Redis) -> dict[str, Any]:
    return {
        "broadcast": r.xrange("jln:broadcast"),
        "broadcast last id": r.xinfo_stream("jln:broadcast")["last-generated-id"],
        "ada": r.xrange("jln:user:ada"),
        "ada last id": r.xinfo_stream("jln:user:ada")["last-generated-id"],
        "read": r.hgetall("jln:inbox:ada:read"),
        "joined": r.hgetall("jln:inbox:ada:joined"),
        "readers": r.smembers("jln:readers:broadcast"),
        "scores": r.zrange("jln:scores", 0, -1, withscores=True),
        "list": r.lrange("jln:list", 0, -1),
        "version": r.get("jln:inbox:ada:version"),
        "version ttl": r.pttl("jln:inbox:ada:version"),
        "idem": r.get("jln:idem:k1"),
        "keys": sorted(r.keys()),
    }


def test_every_type_comes_back_as_it_was(path: Path, stores: Callable[..., EmbeddedStore]
                                         ) -> None:
    before = stores(path)
    fill(client(before))
    expected = contents(client(before))
    before.save()
    before.close()

    after = stores(path)
    restored = after.load()

    r = client(after)
    assert restored == len(expected["keys"])
    assert contents(r) == expected
    assert expected["broadcast last id"] == b"1700000000005-0"
    assert expected["ada last id"] == b"1700000000001-0"
    assert DAY_MS - 10_000 < r.pttl("jln:idem:k1") <= DAY_MS
    assert not after.changed, "a broker just loaded matches its file"


def test_new_entries_never_get_ids_below_those_before_the_restart(
        path: Path, stores: Callable[..., EmbeddedStore]) -> None:
    before = stores(path)
    fill(client(before))
    before.save()
    before.close()
    after = stores(path)
    after.load()
    r = client(after)

    with pytest.raises(redis.ResponseError, match="equal or smaller"):
        r.xadd("jln:broadcast", {"p": "x"}, id="1700000000004-0")
    with pytest.raises(redis.ResponseError, match="equal or smaller"):
        r.xadd("jln:user:ada", {"p": "x"}, id="1700000000001-0")
    assert r.xadd("jln:broadcast", {"p": "x"}, id="1700000000005-*") == b"1700000000005-1"
    assert r.xadd("jln:user:ada", {"p": "x"}, id="1700000000001-*") == b"1700000000001-1"


def test_a_key_that_expired_while_the_broker_was_down_stays_gone(
        path: Path, stores: Callable[..., EmbeddedStore]) -> None:
    before = stores(path)
    client(before).set("jln:idem:soon", "[]", px=300)
    client(before).set("jln:idem:later", "[]", px=DAY_MS)
    before.save()
    before.close()
    time.sleep(0.4)

    after = stores(path)

    assert after.load() == 1
    assert client(after).keys() == [b"jln:idem:later"]


def test_published_notifications_resume_from_the_same_ids(
        path: Path, stores: Callable[..., EmbeddedStore]) -> None:
    before = stores(path)
    with Publisher(before.url) as publisher:
        ids = [publisher.publish(f"n{i}", users=["ada"])[0] for i in range(3)]
    before.save()
    before.close()

    after = stores(path)
    after.load()
    with Publisher(after.url) as publisher:
        newer = publisher.publish("after the restart", users=["ada"])[0]

    entries = client(after).xrange("jln:user:ada")
    assert [f"jln:user:ada/{e[0].decode()}" for e in entries] == [*ids, newer]


def test_a_save_cut_short_leaves_the_old_file_whole(
        path: Path, stores: Callable[..., EmbeddedStore], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    store = stores(path)
    client(store).hset("jln:inbox:ada:read", "a", "1")
    store.save()
    good = path.read_bytes()
    client(store).hset("jln:inbox:ada:read", "b", "2")
    real_fdopen = os.fdopen

    class DiskFills:
        """Writes half of what it is given, then the disk is full."""

        def __init__(self, fd: int, mode: str) -> None:
            self.file = real_fdopen(fd, mode)

        def __enter__(self) -> DiskFills:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> int:
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fdopen", DiskFills)
        with pytest.raises(OSError, match="No space"):
            store.save()

    assert path.read_bytes() == good
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left"
    assert store.changed, "what failed to save is still to be saved"
    store.save()
    assert embedded.decode(path.read_bytes())[0][3] == [b"a", b"1", b"b", b"2"]


def test_a_failed_fsync_does_not_replace_the_old_file(
        path: Path, stores: Callable[..., EmbeddedStore], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    store = stores(path)
    client(store).set("k", "old")
    store.save()
    client(store).set("k", "new")

    def fsync_fails(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync_fails)
        with pytest.raises(OSError, match="Input/output"):
            store.save()

    assert embedded.decode(path.read_bytes())[0][3] == b"old"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_save_killed_midway_leaves_the_old_file_and_its_leftover_is_cleared(
        path: Path, stores: Callable[..., EmbeddedStore]) -> None:
    before = stores(path)
    client(before).set("k", "saved")
    before.save()
    before.close()
    leftover = path.with_name(f".{path.name}.x1y2z3.tmp")
    leftover.write_bytes(embedded.encode(before.snapshot())[:10])  # a crash mid-write

    after = stores(path)

    assert after.load() == 1
    assert client(after).get("k") == b"saved"
    assert not leftover.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "future version", "not ours",
                                    "bad record"])
def test_a_damaged_file_is_set_aside_and_the_broker_starts_empty(
        damage: str, path: Path, stores: Callable[..., EmbeddedStore],
        caplog: pytest.LogCaptureFixture) -> None:
    good = stores(path)
    fill(client(good))
    good.save()
    good.close()
    raw = path.read_bytes()
    document = msgpack.unpackb(raw, raw=False)
    bad = {
        "garbage": b"\x00\xffnot msgpack at all",
        "truncated": raw[: len(raw) // 2],
        "future version": msgpack.packb({**document, "version": 2}, use_bin_type=True),
        "not ours": msgpack.packb({"some": "other file"}),
        "bad record": msgpack.packb({**document, "keys": [["stream", b"s", None, [b"x", []]]]},
                                    use_bin_type=True),
    }[damage]
    path.write_bytes(bad)

    store = stores(path)
    with caplog.at_level(logging.ERROR, logger="jln.embedded"):
        restored = store.load()

    [aside] = path.parent.glob(path.name + ".corrupt-*")
    assert restored == 0
    assert client(store).keys() == []
    assert aside.read_bytes() == bad
    assert not path.exists()
    assert str(aside) in caplog.text
    client(store).set("k", "v")
    store.save()
    assert aside.read_bytes() == bad, "a damaged file is never overwritten"
    assert embedded.decode(path.read_bytes())[0][1] == b"k"


def test_a_restore_the_broker_refuses_leaves_it_empty(
        path: Path, stores: Callable[..., EmbeddedStore]) -> None:
    entries = [[b"5-0", [b"p", b"a"]], [b"3-0", [b"p", b"b"]]]  # out of order: XADD refuses
    path.parent.mkdir(parents=True)
    path.write_bytes(msgpack.packb(
        {"format": embedded.FORMAT, "version": embedded.VERSION, "savedAt": 0,
         "keys": [["string", b"k", None, b"v"], ["stream", b"s", None, [b"5-0", entries]]]},
        use_bin_type=True))

    store = stores(path)

    assert store.load() == 0
    assert client(store).keys() == []
    assert len(list(path.parent.glob(path.name + ".corrupt-*"))) == 1


@pytest.mark.asyncio
async def test_nothing_is_written_while_nothing_changes(
        path: Path, stores: Callable[..., EmbeddedStore]) -> None:
    store = stores(path)
    r = client(store)
    r.xadd("jln:broadcast", {"p": "x"})
    assert store.changed
    assert await store.save_changes()
    written = path.stat()

    r.xrange("jln:broadcast")
    r.xread({"jln:broadcast": "0-0"})
    r.hgetall("jln:inbox:ada:read")
    saved_again = await store.save_changes()

    assert not store.changed
    assert not saved_again
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino,
                                                             written.st_mtime_ns)
    r.hset("jln:inbox:ada:read", "id", "1")
    assert store.changed
    assert await store.save_changes()
    assert path.stat().st_ino != written.st_ino


@pytest.mark.asyncio
async def test_the_saver_writes_changes_within_its_interval_and_only_then(
        path: Path, stores: Callable[..., EmbeddedStore], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    store = stores(path, interval=0.05)
    store.load()
    writes: list[bytes] = []
    real_replace = embedded.replace_atomically

    def counted(target: Path, data: bytes) -> None:
        writes.append(data)
        real_replace(target, data)

    monkeypatch.setattr(embedded, "replace_atomically", counted)
    store.start()
    r = connection.async_client(store.url)
    await r.xadd("jln:broadcast", {"p": "x"})
    await asyncio.sleep(0.3)
    after_change = len(writes)
    await r.xrange("jln:broadcast")
    await asyncio.sleep(0.3)
    idle = len(writes) - after_change
    await r.hset("jln:inbox:ada:read", "id", "1")
    await store.stop()
    await r.aclose()

    assert after_change == 1
    assert idle == 0
    assert len(writes) == 2, "stop() saves what changed since the last save"
    assert [rec[1] for rec in embedded.decode(path.read_bytes())] == [
        b"jln:broadcast", b"jln:inbox:ada:read"]


def test_a_second_store_on_the_same_file_keeps_its_hands_off(
        path: Path, stores: Callable[..., EmbeddedStore], caplog: pytest.LogCaptureFixture
        ) -> None:
    first = stores(path)
    first.load()
    client(first).set("k", "first")
    first.save()
    second = stores(path)

    with caplog.at_level(logging.WARNING, logger="jln.embedded"):
        assert second.load() == 0
    client(second).set("k", "second")
    second.save()

    assert not second.active
    assert "another process keeps" in caplog.text
    assert embedded.decode(path.read_bytes())[0][3] == b"first"
    first.close()
    third = stores(path)
    assert third.load() == 1 and third.active, "the file is free once its keeper closes"


def test_loading_into_a_broker_in_use_is_refused(
        path: Path, stores: Callable[..., EmbeddedStore]) -> None:
    store = stores(path)
    client(store).set("k", "v")

    with pytest.raises(RuntimeError, match="load\\(\\) comes first"):
        store.load()
