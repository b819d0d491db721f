"""Redis Sentinel, for real: a master, two replicas and three sentinels (``sentinel_group``).

A publisher and a reader given the sentinels' URL follow the master they name; the master is
killed (SIGKILL) while publishing goes on; every publish that Redis acknowledged, with
``wait_replicas=1``, is read back, once.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from benchmarks.redis_topology import SentinelGroup
from jln_broker.connection import async_client, key_prefix
from jln_broker.errors import BrokerUnavailable
from jln_broker.history import History
from jln_broker.model import validate
from jln_broker.protocol import Delivered, StreamNames
from jln_broker.publisher import AsyncPublisher, Publisher
from jln_broker.reader import Decoder, StreamReader

pytestmark = pytest.mark.asyncio
READ_TIMEOUT = 30.0


class Follower:
    """A reader of ada's streams through the sentinels, as a Jupyter server reads them: the
    history loaded, then ``XREAD BLOCK`` with the epoch checked."""

    def __init__(self, url: str) -> None:
        self.client = async_client(url, socket_timeout=10)
        self.history = History(self.client, StreamNames(key_prefix(url, "jln")), "ada",
                               Decoder())
        self.read: list[Delivered] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> StreamReader:
        names = self.history.names
        cursor = await self.history.load(names.audience("ada"))
        assert self.history.epoch is not None
        reader = StreamReader(self.client, names.audience("ada"), cursor, block_ms=1000,
                              epoch=(names.epoch, self.history.epoch))
        self._task = asyncio.create_task(self._follow(reader))
        return reader

    async def _follow(self, reader: StreamReader) -> None:
        async for batch in reader.batches():
            self.read.extend(batch.items)

    async def until_read(self, messages: set[str]) -> list[str]:
        """Everything read, once ``messages`` are among it (or the time is up)."""
        deadline = time.monotonic() + READ_TIMEOUT
        while not messages <= self.messages() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return [d.notification.message for d in self.read]

    def messages(self) -> set[str]:
        return {d.notification.message for d in self.read}

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.aclose()


async def test_publishing_and_reading_follow_a_failover_losing_nothing_acknowledged(
        sentinel_group: SentinelGroup) -> None:
    url = sentinel_group.url("wait_replicas=1")
    follower = Follower(url)
    reader = await follower.start()
    acknowledged: list[str] = []
    failed_over = asyncio.Event()

    async def publish_until_after_the_failover(publisher: AsyncPublisher) -> None:
        after = 0
        while after < 20:
            message = f"n{len(acknowledged)}"
            await publisher.publish(message, users=["ada"])
            acknowledged.append(message)  # publish returned: Redis and a replica have it
            after += failed_over.is_set()
            await asyncio.sleep(0.01)

    async with AsyncPublisher(url, retry_for=60) as publisher:
        publishing = asyncio.create_task(publish_until_after_the_failover(publisher))
        while len(acknowledged) < 20:
            await asyncio.sleep(0.02)
        old = await asyncio.to_thread(sentinel_group.kill_master)
        new = await asyncio.to_thread(sentinel_group.wait_for_failover, old)
        failed_over.set()
        await asyncio.wait_for(publishing, READ_TIMEOUT)
    with Publisher(url) as blocking:  # a blocking publisher made now finds the new master
        blocking.publish("blocking", users=["ada"])

    read = await follower.until_read({*acknowledged, "blocking"})
    await follower.close()
    assert new.port != old.port and len(acknowledged) >= 40
    assert set(acknowledged) <= set(read), sorted(set(acknowledged) - set(read))
    assert len(read) == len(set(read)), "a notification was read twice"
    assert reader.stats.reconnects >= 1  # it did lose the master, and carried on


async def test_a_publish_is_acknowledged_only_once_the_replicas_asked_for_have_it(
        sentinel_group: SentinelGroup) -> None:
    async with AsyncPublisher(sentinel_group.url("wait_replicas=2")) as both:
        ids = await both.publish("held by both replicas", users=["ada"],
                                 idempotency_key="notice-1")
    for replica in sentinel_group.nodes[1:]:
        with replica.client() as client:
            assert client.xlen("jln:user:ada") == 1

    more = sentinel_group.url("wait_replicas=3&wait_timeout=100")  # there are only two
    with Publisher(more, retry_for=1.0) as blocking, pytest.raises(BrokerUnavailable) as sync:
        blocking.publish("sync", users=["ada"], idempotency_key="notice-2")
    async with AsyncPublisher(more, retry_for=1.0) as publisher:
        with pytest.raises(BrokerUnavailable) as unconfirmed:
            await publisher.publish("async", users=["ada"], idempotency_key="notice-3")
        each = await publisher.publish_each([([validate({"message": "each"})], "notice-4")])
    async with AsyncPublisher(sentinel_group.url("wait_replicas=2")) as both:
        again = await both.publish("sync", users=["ada"], idempotency_key="notice-2")

    for refused in (sync.value, unconfirmed.value, each[0]):
        assert isinstance(refused, BrokerUnavailable)
        assert "2 of the 3 replicas asked for (wait_replicas) confirmed it" in str(refused)
    with sentinel_group.master().client() as master:
        # Written once each on the master, not acknowledged; a retry with the key that has
        # the replicas it asks for answers the first write's ids, writing nothing again.
        assert master.xlen("jln:user:ada") == 3 and master.xlen("jln:broadcast") == 1
        assert again[0].split("/")[1] == _entry_ids(master, "jln:user:ada")[1]
    assert ids[0].startswith("jln:user:ada/")


def _entry_ids(client: redis.Redis, stream: str) -> list[str]:
    return [entry_id.decode() for entry_id, _ in client.xrange(stream)]
