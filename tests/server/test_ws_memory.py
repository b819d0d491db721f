"""A closed ``jln/api/ws`` connection gives back its memory.

Tabs reload and laptops sleep, so a server sees thousands of connect/close cycles a day. Each
test runs a real ``jupyter server`` (other extensions off), connects and leaves thousands of
times in one way of leaving, and asserts that once a warm-up has set the allocator's high-water
mark the server's RSS stays flat and the fan-out holds no subscription. Before the fix each
cycle left about 15 KB behind (WebSocketMixin's ping timer held the closed handler).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from benchmarks import ws_client
from benchmarks.jupyter_process import CHECKOUT, JupyterProcess

WARM_UP = 500
CYCLES = 2500
FLAT_BYTES = 4 * 1024 * 1024
"""Allowed RSS growth over CYCLES cycles after the warm-up: measured growth is under 0.5 MB;
before the fix 2,500 cycles grew it by 35-42 MB."""
SETTLE_SECONDS = 15.0

Cycle = Callable[[JupyterProcess], Awaitable[None]]


@pytest.fixture
def server(redis_url: str) -> Iterator[JupyterProcess]:
    with JupyterProcess(redis_url) as process:
        yield process


class Greeting:
    """Collects the first frame of a connection (the hello)."""

    def __init__(self) -> None:
        self.hello = asyncio.Event()

    def on_text(self, text: str, arrived: float) -> None:
        self.hello.set()


async def greeted(server: JupyterProcess) -> ws_client.Connection:
    """A connection that has received its hello."""
    greeting = Greeting()
    connection = await ws_client.connect(server.ws_url, server.token, greeting.on_text)
    await asyncio.wait_for(greeting.hello.wait(), 30)
    return connection


async def closed_by_client(server: JupyterProcess) -> None:
    connection = await greeted(server)
    connection.close()
    await asyncio.wait_for(connection.closed, 30)


async def reset_by_client(server: JupyterProcess) -> None:
    (await greeted(server)).reset()


async def closed_before_hello(server: JupyterProcess) -> None:
    connection = await ws_client.connect(server.ws_url, server.token, lambda text, at: None)
    connection.close()


async def settled(server: JupyterProcess) -> dict[str, int]:
    """The status's client counts once no connection is left open (the server learns of the
    last closes a moment after the client made them)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        clients: dict[str, int] = (await asyncio.to_thread(server.status))["clients"]
        if clients["connected"] == 0 or time.monotonic() > deadline:
            return clients
        await asyncio.sleep(0.1)


async def growth(server: JupyterProcess, cycle: Cycle, warm_up: int, cycles: int) -> int:
    """RSS growth over ``cycles`` cycles, measured after ``warm_up`` of them."""
    for _ in range(warm_up):
        await cycle(server)
    await settled(server)
    before = server.rss()
    for _ in range(cycles):
        await cycle(server)
    clients = await settled(server)
    assert clients["connected"] == 0, clients
    return server.rss() - before


@pytest.mark.asyncio
@pytest.mark.timeout(150)
@pytest.mark.parametrize("cycle", [closed_by_client, reset_by_client, closed_before_hello],
                         ids=["close-frame", "tcp-reset", "closed-before-hello"])
async def test_connect_close_cycles_leave_memory_flat(server: JupyterProcess,
                                                      cycle: Cycle) -> None:
    grown = await growth(server, cycle, WARM_UP, CYCLES)
    print(f"{cycle.__name__}: {CYCLES} cycles after {WARM_UP}: RSS {grown / 1e6:+.2f} MB")
    assert grown < FLAT_BYTES, f"RSS grew {grown / 1e6:.1f} MB over {CYCLES} cycles"


HOLDER = """
import asyncio, sys
from benchmarks import ws_client

async def hold(url, token, count):
    greeted = asyncio.Semaphore(0)
    held = [await ws_client.connect(url, token, lambda text, at: greeted.release())
            for _ in range(count)]
    for _ in held:
        await greeted.acquire()
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(hold(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""
"""A client process that opens ``count`` connections, says so once each has its hello, and
waits to be killed: its sockets are closed by the kernel, with no close frame."""

HELD = 100
KILLS_WARM_UP = 3
KILLS = 15


def kill_a_holder(server: JupyterProcess) -> None:
    with subprocess.Popen([sys.executable, "-c", HOLDER, server.ws_url, server.token,
                           str(HELD)], stdout=subprocess.PIPE, cwd=CHECKOUT,
                          env={**os.environ, "PYTHONPATH": str(CHECKOUT)}) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == b"ready\n", "the client process did not connect"
        finally:
            holder.send_signal(signal.SIGKILL)


async def killed_holder(server: JupyterProcess) -> None:
    await asyncio.to_thread(kill_a_holder, server)


@pytest.mark.asyncio
@pytest.mark.timeout(150)
async def test_client_processes_killed_leave_memory_flat(server: JupyterProcess) -> None:
    grown = await growth(server, killed_holder, KILLS_WARM_UP, KILLS)
    print(f"{KILLS} client processes of {HELD} connections killed: RSS {grown / 1e6:+.2f} MB")
    assert grown < FLAT_BYTES, f"RSS grew {grown / 1e6:.1f} MB over {KILLS * HELD} connections"
