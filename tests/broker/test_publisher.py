"""Publisher and AsyncPublisher against a real redis-server and the embedded memory:// broker."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis

from jln_broker import (
    AsyncPublisher,
    BrokerRefused,
    BrokerUnavailable,
    NotFound,
    Notification,
    Publisher,
    TooLarge,
    ValidationError,
    connection,
    validate,
)
from jln_broker.connection import sync_client
from jln_broker.protocol import decode_entry

if TYPE_CHECKING:
    from conftest import RedisServer


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A redis URL whose port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"


def stored(url: str, stream: str) -> list[tuple[str, Notification]]:
    """What XRANGE finds on ``stream``: entry ids and the notifications they decode to."""
    client = sync_client(url)
    try:
        return [(raw_id.decode(), decode_entry(fields)) for raw_id, fields in client.xrange(stream)]
    finally:
        client.close()


def ids_on(url: str, stream: str) -> list[str]:
    return [f"{stream}/{entry_id}" for entry_id, _ in stored(url, stream)]


def test_broadcast_lands_on_the_broadcast_stream(broker_url: str) -> None:
    with Publisher(broker_url) as pub:
        ids = pub.publish("Training done", type="success", auto_close=False)

    [(entry_id, note)] = stored(broker_url, "jln:broadcast")
    assert ids == [f"jln:broadcast/{entry_id}"]
    assert (note.message, note.type, note.auto_close) == ("Training done", "success", False)


def test_entries_written_by_the_publisher_are_visible_to_redis_cli(
        redis_server: RedisServer, redis_url: str) -> None:
    with Publisher(redis_url) as pub:
        [published] = pub.publish("hello", users=["ada"])

    listed = redis_server.cli("XRANGE", "jln:user:ada", "-", "+").split()

    assert listed[0] == published.removeprefix("jln:user:ada/")
    assert listed[1] == "p"
    assert redis_server.cli("XLEN", "jln:broadcast").strip() == "0"


def test_addressed_notification_gets_one_entry_per_user_and_group(broker_url: str) -> None:
    with Publisher(broker_url) as pub:
        ids = pub.publish("Quota at 90%", type="warning", users=["ada", "bob"], groups=["ml"])

    streams = ["jln:user:ada", "jln:user:bob", "jln:group:ml"]
    assert ids == [id_ for stream in streams for id_ in ids_on(broker_url, stream)]
    assert stored(broker_url, "jln:broadcast") == []
    assert {stored(broker_url, s)[0][1].message for s in streams} == {"Quota at 90%"}


def test_multi_target_publish_is_one_script_call(redis_server: RedisServer,
                                                 redis_url: str) -> None:
    with Publisher(redis_url) as pub:
        pub.publish("warm up the connection")
        redis_server.cli("CONFIG", "RESETSTAT")
        ids = pub.publish("to three streams", users=["ada", "bob"], groups=["ml"])

    calls = dict(re.findall(r"cmdstat_(\w+):calls=(\d+)", redis_server.cli("INFO", "commandstats")))
    assert (calls.get("evalsha"), calls.get("xadd"), calls.get("multi")) == ("1", "3", None)
    assert len(ids) == 3
    assert ids == (ids_on(redis_url, "jln:user:ada") + ids_on(redis_url, "jln:user:bob")
                   + ids_on(redis_url, "jln:group:ml"))


def test_publish_many_returns_ids_per_notification_in_order(broker_url: str) -> None:
    batch = [validate({"message": "one"}), {"message": "two", "users": ["ada", "bob"]},
             {"message": "three", "groups": ["ml"]}]

    with Publisher(broker_url) as pub:
        ids = pub.publish_many(batch)

    assert [len(per_note) for per_note in ids] == [1, 2, 1]
    assert ids[0] == ids_on(broker_url, "jln:broadcast")
    assert ids[1] == ids_on(broker_url, "jln:user:ada") + ids_on(broker_url, "jln:user:bob")
    assert ids[2] == ids_on(broker_url, "jln:group:ml")


def test_a_batch_checks_each_stream_once_and_keeps_its_order_on_each(
        redis_server: RedisServer, redis_url: str) -> None:
    batch: list[dict[str, Any]] = [{"message": "1", "users": ["ada"]}, {"message": "2"},
             {"message": "3", "users": ["ada"], "groups": ["ml"]},
             {"message": "4", "users": ["ada"]}]

    with Publisher(redis_url) as pub:
        pub.publish("warm up the connection")
        redis_server.cli("CONFIG", "RESETSTAT")
        ids = pub.publish_many(batch)

    calls = dict(re.findall(r"cmdstat_(\w+):calls=(\d+)", redis_server.cli("INFO", "commandstats")))
    assert (calls.get("evalsha"), calls.get("type"), calls.get("xadd")) == ("1", "3", "5")
    ada, ml = ids_on(redis_url, "jln:user:ada"), ids_on(redis_url, "jln:group:ml")
    assert ids == [[ada[0]], ids_on(redis_url, "jln:broadcast")[1:], [ada[1], ml[0]], [ada[2]]]
    assert [n.message for _, n in stored(redis_url, "jln:user:ada")] == ["1", "3", "4"]


def test_prefix_names_other_streams(broker_url: str) -> None:
    with Publisher(broker_url, prefix="lab2") as pub:
        [published] = pub.publish("m")

    assert published.startswith("lab2:broadcast/")
    assert ids_on(broker_url, "lab2:broadcast") == [published]
    assert stored(broker_url, "jln:broadcast") == []


def test_python_keywords_reach_the_wire_form(broker_url: str) -> None:
    expiry = datetime(2100, 1, 1, tzinfo=timezone.utc)

    with Publisher(broker_url) as pub:
        pub.publish("m", auto_close=0, expires_at=expiry, data={"run": 7},
                    actions=[{"label": "Open", "commandId": "app:open"}])

    [(_, note)] = stored(broker_url, "jln:broadcast")
    assert note.auto_close == 0 and note.auto_close is not False
    assert note.expires_at == int(expiry.timestamp() * 1000)
    assert note.data == {"run": 7}
    assert note.actions[0].command_id == "app:open"


def test_maxlen_keeps_roughly_maxlen_entries(broker_url: str) -> None:
    with Publisher(broker_url, maxlen=100) as pub:
        ids = pub.publish_many({"message": f"n{i}"} for i in range(1_000))

    kept = ids_on(broker_url, "jln:broadcast")
    assert 100 <= len(kept) < 250
    assert kept[-1] == ids[-1][0]


@pytest.mark.parametrize("batch", [
    [{"message": "fine"}, {"message": ""}],
    [{"message": "fine"}, {"message": "m", "autoClose": True}],
    [{"message": "fine"}, {"message": "m", "link": "javascript:alert(1)"}],
    [{"message": "fine", "users": ["ada"]}, {"message": "m", "colour": "red"}],
])
def test_invalid_batch_writes_nothing(broker_url: str, batch: list[dict[str, object]]) -> None:
    with Publisher(broker_url) as pub, pytest.raises(ValidationError):
        pub.publish_many(batch)

    assert stored(broker_url, "jln:broadcast") == []
    assert stored(broker_url, "jln:user:ada") == []


def test_a_refused_notification_of_a_batch_is_named_by_its_place(broker_url: str) -> None:
    batch: list[Notification | dict[str, Any]] = [
        validate({"message": "built"}), {"message": "fine"}, {"message": "also fine"},
        {"message": "x" * 10_001}]

    with Publisher(broker_url) as pub, pytest.raises(TooLarge) as caught:
        pub.publish_many(batch)

    assert caught.value.field == "[3].message"
    assert "the limit is 10000" in str(caught.value)
    assert stored(broker_url, "jln:broadcast") == []


def test_invalid_keyword_raises_before_writing(broker_url: str) -> None:
    with Publisher(broker_url) as pub, pytest.raises(ValidationError) as caught:
        pub.publish("m", auto_close=-5)

    assert caught.value.field == "autoClose"
    assert stored(broker_url, "jln:broadcast") == []


def test_unreachable_broker_raises_after_retry_for(closed_url: str) -> None:
    started = time.monotonic()

    with Publisher(closed_url, retry_for=0.5) as pub, pytest.raises(BrokerUnavailable) as caught:
        pub.publish("nobody listens")

    assert 0.45 <= time.monotonic() - started < 3.0
    assert isinstance(caught.value, ConnectionError)
    assert "0.5s" in str(caught.value)


def test_a_key_of_the_wrong_type_is_a_clear_refusal(redis_server: RedisServer,
                                                    redis_url: str) -> None:
    redis_server.cli("SET", "jln:user:bob", "not a stream")

    with Publisher(redis_url) as pub, pytest.raises(BrokerRefused) as caught:
        pub.publish("hello", users=["bob"])

    assert "WRONGTYPE" in str(caught.value)
    assert "\\x" not in repr(str(caught.value))  # Redis's words, not the binary command


def test_publish_waits_for_a_restarting_broker(redis_server: RedisServer, redis_url: str) -> None:
    with Publisher(redis_url, retry_for=10) as pub:
        pub.publish("before")
        redis_server.stop()
        comeback = threading.Timer(0.3, redis_server.start)
        comeback.start()
        try:
            pub.publish("after")
        finally:
            comeback.join()

    assert [note.message for _, note in stored(redis_url, "jln:broadcast")] == ["before", "after"]


@pytest.mark.asyncio
async def test_async_publisher_writes_each_target(broker_url: str) -> None:
    async with AsyncPublisher(broker_url) as pub:
        one = await pub.publish("to everyone", type="success")
        many = await pub.publish_many([{"message": "to ada", "users": ["ada"]},
                                       {"message": "to ml", "groups": ["ml"]}])

    assert one == ids_on(broker_url, "jln:broadcast")
    assert many == [ids_on(broker_url, "jln:user:ada"), ids_on(broker_url, "jln:group:ml")]
    assert stored(broker_url, "jln:group:ml")[0][1].message == "to ml"


@pytest.mark.asyncio
async def test_async_invalid_batch_writes_nothing(broker_url: str) -> None:
    async with AsyncPublisher(broker_url) as pub:
        with pytest.raises(ValidationError) as caught:
            await pub.publish_many([{"message": "fine"}, {"message": "m", "type": "fatal"}])

    assert caught.value.field == "[1].type"  # which one, then which field
    assert stored(broker_url, "jln:broadcast") == []


@pytest.mark.asyncio
async def test_async_unreachable_broker_raises_after_retry_for(closed_url: str) -> None:
    started = time.monotonic()

    async with AsyncPublisher(closed_url, retry_for=0.5) as pub:
        with pytest.raises(BrokerUnavailable):
            await pub.publish("nobody listens")

    assert 0.45 <= time.monotonic() - started < 3.0


# --- all or nothing -----------------------------------------------------------------------------

def test_a_wrong_type_target_fails_the_whole_batch_and_writes_nothing(broker_url: str) -> None:
    client = sync_client(broker_url)
    client.set("jln:group:ml", "not a stream")

    with Publisher(broker_url) as pub, pytest.raises(BrokerRefused) as refused:
        pub.publish_many([{"message": "first", "users": ["ada"]},
                          {"message": "second", "groups": ["ml"]}])

    assert "jln:group:ml" in str(refused.value) and "nothing was written" in str(refused.value)
    assert client.xlen("jln:user:ada") == 0
    assert client.get("jln:group:ml") == b"not a stream"


@pytest.mark.asyncio
async def test_async_a_wrong_type_target_fails_the_whole_batch(broker_url: str) -> None:
    client = sync_client(broker_url)
    client.hset("jln:user:bob", "not", "a stream")

    async with AsyncPublisher(broker_url) as pub:
        with pytest.raises(BrokerRefused, match="jln:user:bob holds a hash"):
            await pub.publish("to both", users=["ada", "bob"])

    assert client.xlen("jln:user:ada") == 0


def test_a_script_forgotten_by_redis_is_loaded_again(redis_server: RedisServer,
                                                     redis_url: str) -> None:
    with Publisher(redis_url) as pub:
        first = pub.publish("before the flush")
        redis_server.cli("SCRIPT", "FLUSH")  # as after a Redis restart or failover
        second = pub.publish("after the flush")

    assert ids_on(redis_url, "jln:broadcast") == first + second


# --- idempotency --------------------------------------------------------------------------------

def test_the_same_idempotency_key_answers_the_first_ids_and_writes_nothing(
        broker_url: str) -> None:
    with Publisher(broker_url) as pub:
        first = pub.publish("deploy done", users=["ada"], groups=["ml"],
                            idempotency_key="deploy-42")
        again = pub.publish("deploy done", users=["ada"], groups=["ml"],
                            idempotency_key="deploy-42")
        other = pub.publish("deploy done", users=["ada"], idempotency_key="deploy-43")

    assert again == first and len(first) == 2
    assert len(ids_on(broker_url, "jln:user:ada")) == 2  # deploy-42 once, deploy-43 once
    assert other[0] != first[0]


@pytest.mark.asyncio
async def test_async_publish_many_with_a_used_key_answers_the_first_ids(broker_url: str) -> None:
    batch = [{"message": "one"}, {"message": "two", "users": ["ada", "bob"]}]
    async with AsyncPublisher(broker_url) as pub:
        first = await pub.publish_many(batch, idempotency_key="nightly-2100-01-01")
        again = await pub.publish_many(batch, idempotency_key="nightly-2100-01-01")
        single = await pub.publish("three", idempotency_key="nightly-2100-01-02")
        single_again = await pub.publish("three", idempotency_key="nightly-2100-01-02")

    assert again == first == [ids_on(broker_url, "jln:broadcast")[:1],
                              ids_on(broker_url, "jln:user:ada") + ids_on(broker_url,
                                                                          "jln:user:bob")]
    assert single_again == single
    assert len(ids_on(broker_url, "jln:broadcast")) == 2


def test_the_key_holds_the_first_ids_as_json(broker_url: str) -> None:
    odd = 'o"brien\\x'  # a name may hold quotes and backslashes
    with Publisher(broker_url) as pub:
        first = pub.publish_many([{"message": "a", "users": ["ada", odd]}, {"message": "b"}],
                                 idempotency_key="release-7")
        again = pub.publish_many([{"message": "a", "users": ["ada", odd]}, {"message": "b"}],
                                 idempotency_key="release-7")

    held = sync_client(broker_url).get("jln:idem:release-7")
    assert held is not None and json.loads(held) == first == again
    assert first[0][1].startswith(f"jln:user:{odd}/")
    assert len(ids_on(broker_url, f"jln:user:{odd}")) == 1


def test_a_caller_key_is_kept_a_day_and_the_publishers_own_only_while_it_may_retry(
        redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with Publisher(redis_url, retry_for=5) as pub:
        pub.publish("kept", idempotency_key="mine")
        pub.publish("retry-safe")

    keys = {k.decode(): client.pttl(k) for k in client.scan_iter("jln:idem:*")}
    assert 86_000_000 < keys.pop("jln:idem:mine") <= 86_400_000
    [own_ttl] = keys.values()
    assert 0 < own_ttl <= 65_000


@pytest.mark.parametrize("key", ["", "with space", "x" * 201, "tab\tin", "line\nbreak",
                                 "naïve", 42])
def test_a_bad_idempotency_key_is_refused_naming_the_field(memory_url: str, key: Any) -> None:
    with Publisher(memory_url) as pub, pytest.raises(ValidationError) as refused:
        pub.publish("never written", idempotency_key=key)
    assert refused.value.field == "idempotencyKey"
    assert stored(memory_url, "jln:broadcast") == []


@pytest.mark.asyncio
async def test_async_a_bad_idempotency_key_is_refused_naming_the_field(memory_url: str) -> None:
    async with AsyncPublisher(memory_url) as pub:
        with pytest.raises(ValidationError) as refused:
            await pub.publish_many([{"message": "never written"}], idempotency_key="a b")
    assert refused.value.field == "idempotencyKey"


def test_running_the_same_call_again_after_a_lost_reply_writes_nothing_twice(
        redis_url: str) -> None:
    with Publisher(redis_url) as pub:
        batch = pub.batch([{"message": "once", "users": ["ada"]}])
        keys, args = batch.script_call(None, pub.retry_for)
        assert pub._script is not None
        first = batch.ids(pub._script(keys=keys, args=args))  # its reply was "lost"
        retried = batch.ids(pub._script(keys=keys, args=args))

    assert retried == first
    assert len(ids_on(redis_url, "jln:user:ada")) == 1


class ReplyLosingProxy:
    """A TCP proxy in front of Redis that, once armed, passes the next ``EVALSHA`` on to Redis
    and then cuts the client's connection instead of passing back the reply: the script ran,
    the publisher never heard."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.armed = False
        self.lost_replies = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            lose = threading.Event()
            threading.Thread(target=self._requests, args=(client, upstream, lose),
                             daemon=True).start()
            threading.Thread(target=self._replies, args=(upstream, client, lose),
                             daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket,
                  lose: threading.Event) -> None:
        while data := _recv(client):
            if self.armed and b"EVALSHA" in data.upper():
                self.armed = False
                lose.set()
            upstream.sendall(data)
        upstream.close()

    def _replies(self, upstream: socket.socket, client: socket.socket,
                 lose: threading.Event) -> None:
        while data := _recv(upstream):
            if lose.is_set():
                self.lost_replies += 1
                client.shutdown(socket.SHUT_RDWR)
                client.close()
                return
            client.sendall(data)
        client.close()

    def close(self) -> None:
        self._listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


@pytest.fixture
def lossy(redis_server: RedisServer, redis_url: str) -> Iterator[ReplyLosingProxy]:
    proxy = ReplyLosingProxy(redis_server.port)
    yield proxy
    proxy.close()


def test_a_retry_after_a_lost_reply_returns_the_ids_and_writes_once(
        lossy: ReplyLosingProxy, redis_url: str) -> None:
    with Publisher(f"redis://127.0.0.1:{lossy.port}/0", retry_for=5) as pub:
        pub.publish("warm up: the script is loaded")
        lossy.armed = True
        ids = pub.publish("exactly once", users=["ada"])

    assert lossy.lost_replies == 1
    assert ids == ids_on(redis_url, "jln:user:ada")
    assert [n.message for _, n in stored(redis_url, "jln:user:ada")] == ["exactly once"]


@pytest.mark.asyncio
async def test_async_a_retry_after_a_lost_reply_writes_once(lossy: ReplyLosingProxy,
                                                            redis_url: str) -> None:
    async with AsyncPublisher(f"redis://127.0.0.1:{lossy.port}/0", retry_for=5) as pub:
        await pub.publish("warm up: the script is loaded")
        lossy.armed = True
        ids = await pub.publish_many([{"message": "one", "users": ["ada"]},
                                      {"message": "two", "users": ["ada"]}])

    assert lossy.lost_replies == 1
    assert [i for per_note in ids for i in per_note] == ids_on(redis_url, "jln:user:ada")
    assert len(ids_on(redis_url, "jln:user:ada")) == 2


# --- no URL -------------------------------------------------------------------------------------

@pytest.fixture
def nothing_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No $JLN_URL, and a Jupyter runtime directory without any server in it."""
    monkeypatch.delenv("JLN_URL", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def test_without_a_url_the_publisher_writes_where_jln_url_points(
        broker_url: str, nothing_running: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JLN_URL", broker_url)

    with Publisher() as pub:
        ids = pub.publish("found through the environment")

    assert ids == ids_on(broker_url, "jln:broadcast")


@pytest.mark.asyncio
async def test_async_without_a_url_the_publisher_writes_where_jln_url_points(
        broker_url: str, nothing_running: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JLN_URL", broker_url)

    async with AsyncPublisher() as pub:
        ids = await pub.publish("found through the environment")

    assert ids == ids_on(broker_url, "jln:broadcast")


@pytest.mark.parametrize("publisher", [Publisher, AsyncPublisher])
def test_without_a_url_or_a_running_server_the_publisher_says_how_to_give_one(
        nothing_running: Path, publisher: type[Publisher] | type[AsyncPublisher]) -> None:
    stores = dict(connection._memory_servers)

    with pytest.raises(BrokerUnavailable) as refused:
        publisher()

    assert str(nothing_running) in str(refused.value)
    assert "$JLN_URL" in str(refused.value) and "--url" in str(refused.value)
    assert connection._memory_servers == stores  # no private store was made to write into


# --- wait_read ----------------------------------------------------------------------------------

def mark_read(url: str, user: str, notification_id: str, at: int) -> None:
    """What a user's Jupyter server does when they read it."""
    client = sync_client(url)
    try:
        client.hset(f"jln:inbox:{user}:read", notification_id, at)
    finally:
        client.close()


def test_wait_read_returns_as_soon_as_everyone_has_read(broker_url: str) -> None:
    with Publisher(broker_url) as pub:
        [to_ada, to_bob] = pub.publish("your runs are done", users=["ada", "bob"])
        later = threading.Timer(0.4, lambda: (mark_read(broker_url, "ada", to_ada, 17),
                                              mark_read(broker_url, "bob", to_bob, 18)))
        started = time.monotonic()
        later.start()
        receipts = pub.wait_read([to_ada, to_bob], timeout=20)
        later.join()

    assert 0.4 <= time.monotonic() - started < 3
    assert receipts[to_ada].read == [("ada", 17)] and receipts[to_bob].read == [("bob", 18)]
    assert all(r.everyone_read for r in receipts.values())


def test_wait_read_gives_up_at_the_timeout_naming_who_has_not_read(broker_url: str) -> None:
    sync_client(broker_url).sadd("jln:readers:group:ml", "ada", "bob", "cy")
    with Publisher(broker_url) as pub:
        [news] = pub.publish("ml news", groups=["ml"], exclude_users=["cy"])
        mark_read(broker_url, "ada", news, 1700000000123)
        started = time.monotonic()
        receipts = pub.wait_read([news], timeout=0.6)

    assert 0.6 <= time.monotonic() - started < 2
    assert receipts[news].to_dict() == {"id": news,
                                        "read": [{"user": "ada", "readAt": 1700000000123}],
                                        "unread": [{"user": "bob"}]}


@pytest.mark.asyncio
async def test_async_wait_read_returns_once_read_and_times_out_otherwise(
        broker_url: str) -> None:
    async with AsyncPublisher(broker_url) as pub:
        [to_ada] = await pub.publish("for ada", users=["ada"])
        [to_bob] = await pub.publish("for bob", users=["bob"])
        marking = asyncio.get_running_loop().call_later(
            0.3, mark_read, broker_url, "ada", to_ada, 5)
        done = await pub.wait_read([to_ada], timeout=20)
        started = time.monotonic()
        waited = await pub.wait_read([to_ada, to_bob], timeout=0.5)
        marking.cancel()

    assert done[to_ada].read == [("ada", 5)]
    assert 0.5 <= time.monotonic() - started < 2
    assert (waited[to_ada].unread, waited[to_bob].unread) == ([], ["bob"])


def test_wait_read_of_an_id_the_streams_do_not_hold_is_not_found(broker_url: str) -> None:
    with Publisher(broker_url) as pub, pytest.raises(NotFound) as missing:
        pub.wait_read(["jln:user:ada/1-0"], timeout=1)
    assert missing.value.field == "id"
