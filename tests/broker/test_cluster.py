"""Redis Cluster, for real: three masters (``redis_cluster``), reached from their URL.

The prefix becomes a hash tag, so every key JLN writes lies in one slot: the publish script's
keys, one ``XREAD`` of a server's streams, the inbox transactions, the epoch and receipts all
work as on a single Redis.
"""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.redis_process import probe
from benchmarks.redis_topology import ClusterGroup
from jln_broker.connection import async_client
from jln_broker.history import NO_FILTERS, Change, History
from jln_broker.model import validate
from jln_broker.publisher import AsyncPublisher, Publisher
from jln_broker.reader import Decoder, StreamReader

pytestmark = pytest.mark.asyncio
WAKE_TIMEOUT = 10.0
"""Far less than the reader's block: an entry must wake the blocked read, not wait it out."""


async def test_publishing_pushes_to_a_blocked_reader_and_the_inbox_works(
        redis_cluster: ClusterGroup) -> None:
    url = redis_cluster.url
    client = async_client(url, socket_timeout=40)
    publisher = AsyncPublisher(url)
    names = publisher.names
    history = History(client, names, "ada", Decoder())
    streams = names.audience("ada", ["ml"])
    cursor = await history.load(streams)
    assert history.epoch is not None  # written in the slot of every other key
    reader = StreamReader(client, streams, cursor, block_ms=30_000,
                          epoch=(names.epoch, history.epoch))
    batches = reader.batches()
    try:
        first = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.5)  # the XREAD is blocked by now
        ids = await publisher.publish("to ada", users=["ada"])
        woken = await asyncio.wait_for(first, WAKE_TIMEOUT)
        answers = await publisher.publish_each([
            ([validate({"message": "to ml", "groups": ["ml"]})], None),
            ([validate({"message": "to all"}), validate({"message": "to bob", "users": ["bob"]})],
             "batch-1")])
        with Publisher(url) as blocking:
            blocking.publish("blocking", users=["ada"])
        more = [await asyncio.wait_for(anext(batches), WAKE_TIMEOUT)]
        while sum(len(b.items) for b in more) < 3:
            more.append(await asyncio.wait_for(anext(batches), WAKE_TIMEOUT))

        history.add([*woken.items, *(d for b in more for d in b.items)])
        changed = await history.change(ids, Change(read=True, saved=True))  # MULTI/EXEC
        receipts = await publisher.wait_read(ids, timeout=0)
        swept = await history.sweep(retention_ms=86_400_000, max_length=1000)
        unread, total = await history.count(NO_FILTERS)
    finally:
        await batches.aclose()
        await publisher.close()
        await client.aclose()

    assert [d.notification.message for d in woken.items] == ["to ada"]
    assert sorted(d.notification.message for b in more for d in b.items) == [
        "blocking", "to all", "to ml"]
    assert not any(isinstance(a, Exception) for a in answers)
    assert changed.ids == ids and receipts[ids[0]].read[0][0] == "ada"
    assert (swept, unread, total) == (0, 3, 4)


async def test_every_key_lies_in_one_slot_and_a_flushed_script_is_loaded_again(
        redis_cluster: ClusterGroup) -> None:
    async with AsyncPublisher(redis_cluster.url) as publisher:
        await publisher.publish("before", users=["ada"], groups=["ml"])
        for node in redis_cluster.nodes:  # a restart or SCRIPT FLUSH forgets the script
            with probe(node.port) as client:
                client.script_flush()
        await publisher.publish("after", idempotency_key="k")
        for node in redis_cluster.nodes:
            with probe(node.port) as client:
                client.script_flush()
        await publisher.publish_each([([validate({"message": "each"})], None)])
    with Publisher(redis_cluster.url) as blocking:
        blocking.publish("blocking")

    held = []
    for node in redis_cluster.nodes:
        with probe(node.port) as client:
            held.append(sorted(client.keys("*")))
    keys = [k for node_keys in held for k in node_keys]
    assert sum(1 for node_keys in held if node_keys) == 1  # one node holds them all
    assert {k.split(":", 1)[0] for k in keys} == {"{jln}"}
    assert {"{jln}:broadcast", "{jln}:user:ada", "{jln}:group:ml", "{jln}:idem:k"} <= set(keys)
    with probe(redis_cluster.nodes[0].port) as client:
        assert len({client.cluster("keyslot", k) for k in keys}) == 1
