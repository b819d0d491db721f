"""Storm suite: every tab resumes at once after the Jupyter server is killed and restarted.

``clients`` WebSocket clients follow a real ``jupyter server`` while another process publishes
``notifications`` straight to Redis at a steady rate. A few seconds in, the server gets SIGKILL
(a crash, the OOM killer) and is started again on the same port while the publishing goes on.
Each client keeps the cursor of the last frame it received whole and reconnects with it, as the
browser does, and must end with every notification exactly once and no ``gap`` frame (nothing
is trimmed: the streams' ``maxlen`` is far above the count).

The goal (1,000 clients, 5,000 notifications): every client whole within 5 s of the restarted
server's first answer, where whole means holding every notification published before that
answer (what it missed while the server was down, and everything before).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import re
import resource
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from jln_broker import Publisher

from . import ws_client
from .jupyter_process import JupyterProcess
from .results import Figure, Result, percentile
from .server import CONNECT_CHUNK, _flush
from .suite import Context

SUITE = "storm"
GOAL_S = 5.0
HELLO_TIMEOUT = 15.0  # labextension/src/connection: how long a tab waits for the hello
STABLE_AFTER = 5.0  # ... and how long a connection must stay up before its backoff starts over
DRAIN_TIMEOUT = 60.0  # after the last publish, for every client to hold everything
MAXLEN = 1_000_000  # never trimmed here: a gap frame is a failure
MESSAGE = "storm #"
NOTIFICATIONS = '{"type":"notifications","cursor":"'  # how jln_server.wire begins such a frame
_ID = re.compile(r'"id":"([^"]+)"')

Delay = Callable[[int, random.Random], float]


def browser_delay(attempt: int, rng: random.Random) -> float:
    """labextension/src/connection/schedule.ts' DEFAULT_BACKOFF: 0.5 s doubling per failed or
    dropped attempt up to 30 s, each wait drawn between half and all of it."""
    base = min(30.0, 0.5 * 2**attempt)
    return rng.uniform(base / 2, base)


def eager_delay(attempt: int, rng: random.Random) -> float:
    """Again after 50-100 ms, however often it failed: the quickest a client could come back
    without spinning."""
    return rng.uniform(0.05, 0.1)


RECONNECT: dict[str, Delay] = {"browser": browser_delay, "eager": eager_delay}


@dataclass(frozen=True)
class Scale:
    """``FULL`` is the goal's storm; ``QUICK`` a smoke run of the same path."""

    clients: int
    notifications: int
    per_second: float
    kill_after: float  # seconds after the first publish
    modes: tuple[str, ...]


FULL = Scale(clients=1_000, notifications=5_000, per_second=200, kill_after=5.0,
             modes=("browser", "eager"))
QUICK = Scale(clients=200, notifications=1_000, per_second=100, kill_after=2.0,
              modes=("browser",))


def run(context: Context) -> list[Result]:
    scale = QUICK if context.quick else FULL
    raise_fd_limit(scale.clients)
    results = []
    for mode in scale.modes:
        _flush(context.redis_url)
        context.progress(f"resume storm: {scale.clients} clients, {scale.notifications:,} "
                         f"notifications, SIGKILL + restart ({mode} reconnect)")
        results.append(asyncio.run(storm(context, scale, mode)))
    return results


def raise_fd_limit(clients: int) -> None:
    """Lift the soft limit on open files to the hard one: this process holds a socket per
    client, and the server it starts (which inherits the limit) one per client too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65_536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < 2 * clients + 100:
        raise RuntimeError(f"open files are limited to {soft}: {clients} clients need more "
                           "(raise the hard limit, ulimit -Hn)")


# --- the clients ------------------------------------------------------------------------------

class Numbers:
    """Which notification an id is (its number is in its message), learnt from the first client
    to see it, so each client keeps one slot per notification instead of a set of ids.

    A thousand clients each parsing every frame with ``json.loads`` made this process, not the
    server, the bottleneck; a frame's ids are found with a regular expression instead (the
    notifications here have no field that could hold ``"id":``)."""

    def __init__(self) -> None:
        self.of_id: dict[str, int] = {}

    def in_frame(self, text: str) -> list[int]:
        of_id = self.of_id
        found = _ID.findall(text)
        if all(i in of_id for i in found):
            return [of_id[i] for i in found]
        for item in json.loads(text)["notifications"]:  # the first client to see them
            of_id.setdefault(item["id"], int(item["message"].removeprefix(MESSAGE)))
        return [of_id[i] for i in found]


@dataclass
class Tab:
    """One tab: follows the socket, and whenever it drops, comes back with the cursor of the
    last frame it received whole, after the waits of ``delay``."""

    server: JupyterProcess
    numbers: Numbers
    delay: Delay
    rng: random.Random
    arrivals: array[float]
    """When each notification first arrived (``time.perf_counter()``), 0.0 until then."""
    cursor: str | None = None
    duplicates: int = 0
    gaps: int = 0
    failed_attempts: int = 0
    hellos: list[float] = field(default_factory=list)
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    _connection: ws_client.Connection | None = None
    _stopping: bool = False

    @classmethod
    def of(cls, server: JupyterProcess, numbers: Numbers, delay: Delay, count: int,
           seed: int) -> Tab:
        return cls(server, numbers, delay, random.Random(seed), array("d", bytes(8 * count)))

    def on_text(self, text: str, arrived: float) -> None:
        if text.startswith(NOTIFICATIONS):  # most frames: read without json.loads
            arrivals = self.arrivals
            for number in self.numbers.in_frame(text):
                if arrivals[number]:
                    self.duplicates += 1
                else:
                    arrivals[number] = arrived
            self.cursor = text[len(NOTIFICATIONS):text.index('"', len(NOTIFICATIONS))]
            return
        frame = json.loads(text)
        kind = frame.get("type")
        if kind == "hello":
            self.cursor = self.cursor or frame["cursor"]  # the browser keeps the one it has
            self.hellos.append(arrived)
            self.greeted.set()
        elif kind == "gap":
            self.gaps += 1

    async def follow(self) -> None:
        """Connected until ``stop``: again after every drop or failed attempt."""
        attempt = 0
        while not self._stopping:
            query = f"?cursor={self.cursor}" if self.cursor else ""
            try:
                self._connection = await ws_client.connect(
                    self.server.ws_url + query, self.server.token, self.on_text, HELLO_TIMEOUT)
            except (OSError, TimeoutError, ws_client.HandshakeFailed):
                self.failed_attempts += 1
            else:
                await self._connection.closed
                if self.hellos and time.perf_counter() - self.hellos[-1] >= STABLE_AFTER:
                    attempt = 0  # it was up long enough: the backoff starts over
            if not self._stopping:
                await asyncio.sleep(self.delay(attempt, self.rng))
                attempt += 1

    def stop(self) -> None:
        self._stopping = True
        if self._connection is not None:
            self._connection.close()

    def missing(self, upto: int) -> int:
        return self.arrivals[:upto].count(0.0)


# --- the publisher, in a process of its own ---------------------------------------------------

def publish_steadily(redis_url: str, count: int, per_second: float, out: Connection) -> None:
    """Notification ``i`` at ``i / per_second`` s after the start (at once if late), to
    broadcast; sends the start time, then each one's id and when its publish returned."""
    with Publisher(redis_url, maxlen=MAXLEN) as publisher:
        started = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in every process
        out.send(started)
        done: list[tuple[str, float]] = []
        for i in range(count):
            wait = started + i / per_second - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            done.append((publisher.publish(f"{MESSAGE}{i}")[0], time.perf_counter()))
        out.send(done)
    out.close()


# --- one storm --------------------------------------------------------------------------------

@dataclass
class Timeline:
    """When things happened, all ``time.perf_counter()``."""

    published_from: float = 0.0
    killed: float = 0.0
    answered: float = 0.0
    cpu: list[tuple[float, float]] = field(default_factory=list)  # restarted server's CPU s


async def storm(context: Context, scale: Scale, mode: str) -> Result:
    numbers = Numbers()
    seen = Timeline()
    own_cpu = time.process_time()
    with JupyterProcess(context.redis_url) as server:
        tabs = [Tab.of(server, numbers, RECONNECT[mode], scale.notifications, seed)
                for seed in range(scale.clients)]
        following = await _connect(tabs)
        receiving, sending = multiprocessing.get_context("spawn").Pipe(duplex=False)
        publisher = multiprocessing.get_context("spawn").Process(
            target=publish_steadily, daemon=True,
            args=(context.redis_url, scale.notifications, scale.per_second, sending))
        publisher.start()
        try:
            seen.published_from = await _received(receiving, 30.0)
            await asyncio.sleep(seen.published_from + scale.kill_after - time.perf_counter())
            seen.killed = time.perf_counter()
            await asyncio.to_thread(server.kill)
            restarting = asyncio.ensure_future(asyncio.to_thread(server.start_again))
            seen.answered = await _first_answer(server)
            await restarting
            sampling = asyncio.ensure_future(_sample_cpu(server, seen.cpu))
            timeout = scale.notifications / scale.per_second + 30.0
            published: list[tuple[str, float]] = await _received(receiving, timeout)
            await _all_in(tabs, scale.notifications, DRAIN_TIMEOUT)
            sampling.cancel()
            cut_off = await _cut_off(server)
        finally:
            publisher.join(5)
            if publisher.is_alive():
                publisher.kill()
            for tab in tabs:
                tab.stop()
            for task in following:
                task.cancel()
            await asyncio.gather(*following, return_exceptions=True)
        log = server.log_text()
    if context.artifacts is not None:
        context.artifacts.mkdir(parents=True, exist_ok=True)
        (context.artifacts / f"storm-{mode}.log").write_text(log)
    return _result(scale, mode, tabs, numbers, published, seen,
                   {"bench_cpu_s": round(time.process_time() - own_cpu, 1),
                    "tracebacks": log.count("Traceback (most recent call last)"),
                    "cut_off_slow": cut_off})


async def _connect(tabs: Sequence[Tab]) -> list[asyncio.Task[None]]:
    """Every tab following and past its hello, ``CONNECT_CHUNK`` opening at a time."""
    following = []
    for start in range(0, len(tabs), CONNECT_CHUNK):
        chunk = tabs[start:start + CONNECT_CHUNK]
        following += [asyncio.ensure_future(tab.follow()) for tab in chunk]
        try:
            await asyncio.wait_for(asyncio.gather(*(t.greeted.wait() for t in chunk)),
                                   HELLO_TIMEOUT)
        except TimeoutError:
            for task in following:
                task.cancel()
            raise RuntimeError(f"tabs {start}-{start + len(chunk)} got no hello") from None
    return following


async def _received(connection: Connection, timeout: float) -> Any:
    if not await asyncio.to_thread(connection.poll, timeout):
        raise RuntimeError(f"the publisher said nothing for {timeout:g}s")
    return connection.recv()


async def _first_answer(server: JupyterProcess) -> float:
    """When the restarted server first answered an HTTP request (its loop runs: the
    extension is loaded, its history may still be loading)."""
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        if await asyncio.to_thread(server.status_code) is not None:
            return time.perf_counter()
        await asyncio.sleep(0.01)
    raise RuntimeError("the restarted server never answered")


async def _sample_cpu(server: JupyterProcess, samples: list[tuple[float, float]]) -> None:
    while True:
        samples.append((time.perf_counter(), server.cpu_seconds()))
        await asyncio.sleep(0.2)


async def _cut_off(server: JupyterProcess) -> int | None:
    """How many clients the server closed as too slow (None: it did not say in time)."""
    try:
        return int((await asyncio.to_thread(server.status))["clients"]["cutOffSlow"])
    except OSError:
        return None


async def _all_in(tabs: Sequence[Tab], count: int, timeout: float) -> None:
    """Until every tab holds every notification, or ``timeout`` (no error: the shortfall is
    reported)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(t.missing(count) for t in tabs):
        await asyncio.sleep(0.1)


# --- the row ----------------------------------------------------------------------------------

def _result(scale: Scale, mode: str, tabs: Sequence[Tab], numbers: Numbers,
            published: Sequence[tuple[str, float]], seen: Timeline,
            extra: dict[str, Any]) -> Result:
    count = scale.notifications
    # The server answered: the clients' first hellos after the kill may come before the probe.
    answered = min([seen.answered] + [h for t in tabs for h in t.hellos if h > seen.killed])
    backlog = sum(at < answered for _, at in published)  # published in order: 0..backlog-1
    whole = [max(t.arrivals[:backlog], default=answered) - answered for t in tabs
             if not t.missing(backlog)]
    back = [min(h for h in t.hellos if h > seen.killed) - answered
            for t in tabs if t.hellos[-1] > seen.killed]
    lost = sum(t.missing(count) for t in tabs)
    duplicated = sum(t.duplicates for t in tabs)
    gaps = sum(t.gaps for t in tabs)
    whole.sort()
    back.sort()
    last = whole[-1] if len(whole) == len(tabs) else float("inf")
    mismatched = sum(numbers.of_id.get(i) != n for n, (i, _) in enumerate(published))
    notes = [f"goal missed: last client whole {last:.2f} s after the answer (goal {GOAL_S:g} s)"
             if last > GOAL_S else "",
             f"{len(tabs) - len(whole)} clients never whole" if len(whole) < len(tabs) else "",
             f"{lost:,} lost" if lost else "", f"{duplicated:,} duplicated" if duplicated else "",
             f"{gaps} gap frames" if gaps else "",
             f"{mismatched} ids not as published" if mismatched else ""]
    return Result(
        SUITE, f"resume storm: {len(tabs):,} clients, SIGKILL + restart, {count:,} "
               f"notifications", "redis",
        (Figure("last whole", last, "s"), Figure("p50", percentile(whole, 0.5), "s"),
         Figure("p99", percentile(whole, 0.99), "s"), Figure("lost", lost, ""),
         Figure("duplicated", duplicated, "")),
        {"reconnect": mode, "rate_per_s": scale.per_second,
         "down_s": round(answered - seen.killed, 2), "backlog": backlog,
         "published_while_down": sum(seen.killed <= at < answered for _, at in published),
         "back_p50_s": round(percentile(back, 0.5), 3),
         "back_p99_s": round(percentile(back, 0.99), 3),
         "failed_attempts": sum(t.failed_attempts for t in tabs), "gaps": gaps,
         **_server_cpu(seen.cpu, answered, answered + last), **extra},
        "; ".join(n for n in notes if n))


def _server_cpu(samples: Sequence[tuple[float, float]], start: float, end: float
                ) -> dict[str, float]:
    """The restarted server's CPU from its start to its first sample, then in seconds and in
    percent of a core from there until the last client was whole (on a machine others share,
    the seconds move less than the wall clock)."""
    if not samples:
        return {}
    first = samples[0]
    upto = next((s for s in samples if s[0] >= end), samples[-1])
    wall = upto[0] - first[0]
    figures = {"server_start_cpu_s": round(first[1], 2),
               "server_storm_cpu_s": round(upto[1] - first[1], 2)}  # steadier than % here
    if wall > 0:
        figures["server_cpu_pct"] = round(100 * (upto[1] - first[1]) / wall)
    return figures
