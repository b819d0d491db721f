"""A real ``jupyter server`` on Redis Sentinel and on Redis Cluster, its tab a real WebSocket.

Sentinel: the master is killed (SIGKILL) while notifications are published through the
server's own REST ingest, whose URL asks for ``wait_replicas=1``; the server follows the
sentinels to the new master, and its tab gets every notification the ingest acknowledged, once.
Cluster: what is published reaches the tab, and the inbox state is kept, all under ``{jln}``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from benchmarks.redis_topology import ClusterGroup, SentinelGroup
from jln_broker.http import ServerAPI
from jln_broker.publisher import AsyncPublisher, Publisher

from .clients import FRAME_TIMEOUT, Client, messages
from .conftest import JupyterProcess

pytestmark = pytest.mark.asyncio


async def test_a_server_on_sentinel_carries_on_after_a_failover_losing_nothing_acknowledged(
        sentinel_group: SentinelGroup, jupyter_process: Callable[..., JupyterProcess],
        ws_connect: Callable[..., Any]) -> None:
    server = jupyter_process(sentinel_group.url("wait_replicas=1"))
    tab: Client = await ws_connect(server)
    await tab.hello()
    acknowledged: list[str] = []
    failed_over = threading.Event()
    publishing = asyncio.create_task(asyncio.to_thread(
        _publish_until_after, server, failed_over, acknowledged))

    while len(acknowledged) < 10:
        await asyncio.sleep(0.05)
    old = await asyncio.to_thread(sentinel_group.kill_master)
    new = await asyncio.to_thread(sentinel_group.wait_for_failover, old)
    failed_over.set()
    await asyncio.wait_for(publishing, FRAME_TIMEOUT)

    got = await _read_until(tab, set(acknowledged))
    assert new is not old and len(acknowledged) >= 20
    assert set(acknowledged) <= set(messages(got)), sorted(set(acknowledged) - set(
        messages(got)))
    assert len({item["id"] for item in got}) == len(got), "a notification came twice"
    assert len(set(messages(got))) == len(got), "a notification was written twice"


def _publish_until_after(server: JupyterProcess, failed_over: threading.Event,
                         acknowledged: list[str]) -> None:
    """As ``jln send`` through the server does, one after another: a 503 while the master is
    being replaced is retried (under the same Idempotency-Key); ten more after the failover."""
    with Publisher(server.url, token=server.token, retry_for=60) as publisher:
        after = 0
        while after < 10:
            message = f"n{len(acknowledged)}"
            publisher.publish(message)
            acknowledged.append(message)  # 201: written, and a replica has it
            after += failed_over.is_set()
            time.sleep(0.02)


async def _read_until(tab: Client, wanted: set[str]) -> list[dict[str, Any]]:
    """The tab's notifications until ``wanted`` are among them, then a second more."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + FRAME_TIMEOUT
    while not wanted <= set(messages(got)) and time.monotonic() < deadline:
        frame = await tab.frame(max(deadline - time.monotonic(), 0.01))
        if frame["type"] == "notifications":
            got += frame["notifications"]
    try:
        while True:
            frame = await tab.frame(1.0)
            got += frame.get("notifications", [])
    except asyncio.TimeoutError:
        return got


async def test_a_server_on_a_cluster_pushes_and_keeps_the_inbox(
        redis_cluster: ClusterGroup, jupyter_process: Callable[..., JupyterProcess],
        ws_connect: Callable[..., Any]) -> None:
    server = jupyter_process(redis_cluster.url)
    tab: Client = await ws_connect(server)
    owner = (await tab.hello())["user"]
    api = ServerAPI(server.url, server.token)

    async with AsyncPublisher(redis_cluster.url) as publisher:
        await publisher.publish("to the owner", users=[owner])
        await publisher.publish("to everyone")
        await publisher.publish("to a group the owner is not in", groups=["ops"])
    await asyncio.to_thread(api.call, "POST", "jln/api/notifications",
                            body={"message": "through the server"})
    items, _, _ = await tab.notifications(3)
    await tab.nothing_more(1.0)
    [own] = [item["id"] for item in items if item["message"] == "to the owner"]
    _, marked = await asyncio.to_thread(api.call, "POST", "jln/api/notifications/state",
                                        body={"ids": [own], "read": True})
    _, counts = await asyncio.to_thread(api.call, "GET", "jln/api/notifications/count")

    # Two streams' entries of one millisecond may come in either order: sorted, not as sent.
    assert sorted(messages(items)) == ["through the server", "to everyone", "to the owner"]
    assert {item["id"].split(":", 1)[0] for item in items} == {"{jln}"}
    assert marked == {"updated": 1, "unread": 2} and counts == {"unread": 2, "total": 3}
