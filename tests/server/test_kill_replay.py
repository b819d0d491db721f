"""``kill -9`` of the Jupyter server in the middle of a replay of 10,000 notifications.

The client keeps the cursor of the last frame it received whole, as the browser does; after the
crash it reconnects with that cursor to a new server reading the same Redis, and must end with
each of the 10,000 exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from benchmarks.jupyter_process import JupyterProcess

from .clients import FRAME_TIMEOUT, Client, connect

USER = "ada"
STREAM = f"jln:user:{USER}"
COUNT = 10_000
PADDING = "x" * 1000
"""Makes the replay ~11 MB, far more than the sockets' buffers on both sides can hold, so the
server is still writing it when it is killed."""

StartServer = Callable[[], JupyterProcess]


@pytest.fixture
def start_server(redis_url: str) -> Iterator[StartServer]:
    """Starts ``jupyter server`` processes of user ada on the test Redis; all stopped after."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(JupyterProcess(redis_url, [f"--JLN.user={USER}"]))


def publish(redis_url: str) -> list[str]:
    """Write COUNT notifications to ada's stream, as any publisher would; their ids as the
    wire gives them (stream/entry id)."""
    ids: list[str] = []
    client = redis.Redis.from_url(redis_url)
    try:
        for start in range(0, COUNT, 1000):
            pipe = client.pipeline(transaction=False)
            for n in range(start, start + 1000):
                pipe.xadd(STREAM, {"message": f"m{n} {PADDING}", "key": f"job-{n}"})
            ids += [f"{STREAM}/{entry.decode()}" for entry in pipe.execute()]
    finally:
        client.close()
    return ids


async def caught_up(server: JupyterProcess) -> None:
    """Wait (bounded) until the server's reader has read up to the newest entry."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while (await asyncio.to_thread(server.status))["reader"]["lagMs"] != 0:
        assert time.monotonic() < deadline, "the server's reader did not catch up"
        await asyncio.sleep(0.1)


async def open_client(server: JupyterProcess, **params: str) -> tuple[Client, str]:
    """A client past its hello, and the hello's cursor."""
    client = await connect(server.ws_url, server.token, **params)
    return client, (await client.hello())["cursor"]


async def whole_frames_until_dropped(client: Client) -> list[dict[str, Any]]:
    """Every frame that arrives whole until the connection ends (a frame cut by the crash is
    never handed over)."""
    frames: list[dict[str, Any]] = []
    while True:
        try:
            frames.append(await client.frame())
        except AssertionError:  # closed
            return frames


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_kill_9_during_a_replay_of_10000_loses_and_repeats_nothing(
        redis_url: str, start_server: StartServer) -> None:
    first = start_server()
    gone, old_cursor = await open_client(first)
    gone.close()
    ids = await asyncio.to_thread(publish, redis_url)
    await caught_up(first)

    client, _ = await open_client(first, cursor=old_cursor)
    received: list[str] = []
    saved = old_cursor
    frame = await client.frame()  # ...then it reads nothing more for a while, into a small buffer
    client.conn.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    received += [item["id"] for item in frame["notifications"]]
    saved = frame["cursor"]
    await asyncio.sleep(0.5)  # the server fills the buffers, and waits mid-replay
    os.kill(first.pid, signal.SIGKILL)
    for frame in await whole_frames_until_dropped(client):
        received += [item["id"] for item in frame["notifications"]]
        saved = frame["cursor"]
    before_crash = len(received)

    second = start_server()
    resumed, _ = await open_client(second, cursor=saved)
    while len(received) < COUNT:
        frame = await resumed.frame()
        received += [item["id"] for item in frame["notifications"]]
    await resumed.nothing_more(0.5)
    resumed.close()

    print(f"killed after {before_crash} of {COUNT}; resumed and got {COUNT - before_crash}")
    assert 0 < before_crash < COUNT, f"the kill came after {before_crash} of {COUNT}"
    assert len(set(received)) == len(received), "a notification came twice"
    assert received == ids
