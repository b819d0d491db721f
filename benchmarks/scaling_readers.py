"""The user servers of the scaling suite: in a worker process, many asyncio readers, each one
user's Jupyter server following broadcast, its user stream and its group stream with its own
cursor, woken one of three ways (``WAKEUPS``).

Redis sees byte for byte what a JLN server sends: ``XREAD COUNT 500 [BLOCK 5000] STREAMS ...``
from its cursor, pipelined with ``GET <prefix>:epoch``, as ``StreamReader`` does once the server
knows the epoch. The readers speak RESP themselves (``resp.py``) and decode only the payload's
``data.sentAt`` (msgpack, ~5 us) rather than going through redis-py (~0.2 ms a read) and
validating every notification (~90 us): a real server spends that on its own CPU, while here
hundreds of servers share one core, and their queue would hide what Redis does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import msgpack

from jln_broker.protocol import PAYLOAD_FIELD, StreamNames, entry_id_key

from . import resp

COUNT = 500  # entries per read, as StreamReader asks
BLOCK_MS = 5000  # the server's XREAD BLOCK
SAFETY_POLL_S = 2.0  # with hints: a read every so often even if no hint came (one may be lost)
DRAIN_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 30.0  # after the publisher stops, how long the readers may take to catch up

WAKEUPS = ("xread", "shared", "hint")
"""``xread``: each server one ``XREAD BLOCK`` over its three streams (JLN today).
``shared``: per process one blocked read per broadcast and group stream, its entries handed
to every local server of that audience; each server still blocks on its own user stream.
``hint``: each server ``SSUBSCRIBE``s to one sharded channel per stream (named as the stream)
and does a non-blocking ``XREAD`` when a hint comes, plus a read every ``SAFETY_POLL_S``."""

Entry = tuple[tuple[int, int], str, float | None]
"""(id as a sortable key, id, ``data.sentAt`` of a measured notification or None)."""
Deliver = Callable[[str, list[Entry]], None]
Connect = Callable[[], Coroutine[Any, Any, resp.Connection]]


@dataclass(frozen=True)
class Job:
    """One run in one worker: the wake-up, the key prefix and the users (with their group)
    whose servers this process stands for."""

    url: str
    wakeup: str
    prefix: str
    users: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Outcome:
    """What a worker's servers got, counted against what was published."""

    expected: int
    received: int
    duplicated: int
    latencies: bytes  # array('d') of seconds, measured notifications only


@dataclass
class Tally:
    """A worker's figures: each measured delivery's latency, and its readers that are ready."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    connected: int = 0  # readers connected (and subscribed), so about to make their first read


@dataclass
class Server:
    """One user's server: the last entry it took from each stream and what it counted."""

    streams: list[str]
    last: dict[str, tuple[int, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    duplicated: int = 0

    def take(self, stream: str, entries: list[Entry], tally: Tally) -> None:
        now = time.time()
        last = self.last.get(stream, (0, 0))
        taken = 0
        for key, _, sent in entries:
            if key <= last:
                self.duplicated += 1
                continue
            last, taken = key, taken + 1
            if sent is not None:
                tally.latencies.append(now - sent)
        self.last[stream] = last
        self.counts[stream] = self.counts.get(stream, 0) + taken


def host(pipe: Connection) -> None:
    """A worker process's main: runs each ``Job`` it is sent until it is sent None."""
    while (job := pipe.recv()) is not None:
        asyncio.run(_run(job, pipe))


async def _run(job: Job, pipe: Connection) -> None:
    """Connect every server, say ready, read until told the counts published, drain, report."""
    names = StreamNames(job.prefix)
    tally = Tally()
    servers = [Server(names.audience(user, [group])) for user, group in job.users]
    connections: list[resp.Connection] = []

    async def connect() -> resp.Connection:
        connections.append(await resp.Connection.open(job.url))
        return connections[-1]

    tasks = [asyncio.create_task(start)
             for start in _WAKEUPS[job.wakeup](names, servers, tally, connect)]
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while tally.connected < len(tasks) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # their first reads on their way
    pipe.send("ready")
    published: dict[str, int] = await asyncio.to_thread(pipe.recv)
    expected = sum(published.get(s, 0) for server in servers for s in server.streams)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while _received(servers) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    pipe.send(Outcome(expected, _received(servers), sum(s.duplicated for s in servers),
                      tally.latencies.tobytes()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for connection in connections:
        connection.close()


def _received(servers: Sequence[Server]) -> int:
    return sum(sum(s.counts.values()) for s in servers)


def _plain(names: StreamNames, servers: Sequence[Server], tally: Tally,
           connect: Connect) -> list[Coroutine[Any, Any, None]]:
    return [follow(connect, tally, names.epoch, s.streams, _to(s, tally)) for s in servers]


def _shared(names: StreamNames, servers: Sequence[Server], tally: Tally,
            connect: Connect) -> list[Coroutine[Any, Any, None]]:
    audiences: dict[str, list[Server]] = {}
    for server in servers:
        for stream in server.streams:
            if names.scope(stream) != "user":
                audiences.setdefault(stream, []).append(server)
    own = [follow(connect, tally, names.epoch, [s.streams[1]], _to(s, tally))
           for s in servers]
    return own + [follow(connect, tally, names.epoch, [stream], _to_all(local, tally))
                  for stream, local in audiences.items()]


def _hinted(names: StreamNames, servers: Sequence[Server], tally: Tally,
            connect: Connect) -> list[Coroutine[Any, Any, None]]:
    return [follow_hints(connect, tally, names.epoch, s.streams, _to(s, tally))
            for s in servers]


_WAKEUPS = {"xread": _plain, "shared": _shared, "hint": _hinted}


def _to(server: Server, tally: Tally) -> Deliver:
    return lambda stream, entries: server.take(stream, entries, tally)


def _to_all(servers: Sequence[Server], tally: Tally) -> Deliver:
    def deliver(stream: str, entries: list[Entry]) -> None:
        for server in servers:
            server.take(stream, entries, tally)
    return deliver


async def follow(connect: Connect, tally: Tally, epoch: str, streams: list[str],
                 deliver: Deliver) -> None:
    """A server's reader: ``XREAD BLOCK`` from its cursor, forever."""
    redis = await connect()
    tally.connected += 1
    cursor = dict.fromkeys(streams, "0-0")  # fresh streams: 0-0 misses nothing
    while True:
        await _read(redis, epoch, cursor, deliver, BLOCK_MS)


async def follow_hints(connect: Connect, tally: Tally, epoch: str, streams: list[str],
                       deliver: Deliver) -> None:
    """A reader woken by sharded pub/sub: a hint (or the safety poll) starts a non-blocking
    read; a hint that lands during a read makes another, so none is lost to the race."""
    hinted = asyncio.Event()
    subscribed = await connect()
    await subscribed.call(("SSUBSCRIBE", *streams))
    for _ in streams[1:]:  # one confirmation per channel
        await subscribed.reply()
    redis = await connect()
    tally.connected += 1
    await asyncio.gather(_listen(subscribed, hinted),
                         _read_on_hints(redis, tally, epoch, streams, deliver, hinted))


async def _listen(subscribed: resp.Connection, hinted: asyncio.Event) -> None:
    while True:
        await subscribed.reply()  # ["smessage", channel, ""]
        hinted.set()


async def _read_on_hints(redis: resp.Connection, tally: Tally, epoch: str, streams: list[str],
                         deliver: Deliver, hinted: asyncio.Event) -> None:
    cursor = dict.fromkeys(streams, "0-0")
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hinted.wait(), SAFETY_POLL_S)
        hinted.clear()
        if await _read(redis, epoch, cursor, deliver, None):
            hinted.set()  # a full page: more may be waiting


async def _read(redis: resp.Connection, epoch: str, cursor: dict[str, str], deliver: Deliver,
                block_ms: int | None) -> bool:
    """One read as ``StreamReader`` makes it; moves ``cursor``; True if a page came back full."""
    block = ("BLOCK", block_ms) if block_ms is not None else ()
    reply, _ = await redis.call(
        ("XREAD", "COUNT", COUNT, *block, "STREAMS", *cursor, *cursor.values()), ("GET", epoch))
    full = False
    for raw_stream, raw_entries in reply or ():
        stream = raw_stream.decode()
        entries = [_entry(raw_id, fields) for raw_id, fields in raw_entries]
        cursor[stream] = entries[-1][1]
        full = full or len(entries) >= COUNT
        deliver(stream, entries)
    return full


def _entry(raw_id: bytes, fields: list[bytes]) -> Entry:
    """An entry's id and, if it is measured, when it was sent (fields come as name, value...)."""
    entry_id = raw_id.decode()
    payload = fields[fields.index(PAYLOAD_FIELD.encode()) + 1]
    data = msgpack.unpackb(payload).get("data") or {}
    return entry_id_key(entry_id), entry_id, data.get("sentAt") if data.get("measured") else None
