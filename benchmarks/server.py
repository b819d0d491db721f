"""Server suite: a real ``jupyter server`` with ``jln_server``, seen from its WebSocket clients.

Four questions: how long from a publish until every connected tab has the notification (1, 10
and 100 clients); how fast a burst reaches ten tabs and in how many frames; how much memory the
server holds idle, per connected tab and after the burst; and how many notifications a second
the REST ingest takes. Against the private Redis, and where it makes sense against the
embedded ``memory://`` broker, which lives inside the server, so there the notifications go in
through the REST ingest. Every loop is bounded by a count and every wait by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import redis

from jln_broker import AsyncPublisher, Publisher

from . import workload, ws_client
from .jupyter_process import CpuClock, JupyterProcess
from .rest import Posted, RestClient, post_concurrently
from .results import Figure, Result, latency_figures, rate
from .suite import Context

SUITE = "server"
MEMORY_URL = "memory://"
SERVER_ARGS = ("--JLN.ingest_rate_limit=0",)  # the ingest measurement needs no rate limit
CONNECT_CHUNK = 50  # connections opened at once: well under the server's listen backlog
WAIT_TIMEOUT = 15.0  # for a hello, a disconnect to register, the tail of a run
MB, KB = 1_000_000, 1_000


@dataclass(frozen=True)
class Steady:
    """A latency row: ``clients`` tabs, ``messages`` notifications at ``rate`` a second (steady,
    well under what the server takes)."""

    clients: int
    messages: int
    rate: float


@dataclass(frozen=True)
class Scale:
    """How much each measurement does: ``FULL`` takes about 100 s here, ``QUICK`` about 15 s."""

    redis_latency: tuple[Steady, ...]
    memory_latency: tuple[Steady, ...]
    burst: int
    ingest_messages: int
    burst_clients: int = 10
    idle_clients: tuple[int, ...] = (100, 500)
    ingest_connections: tuple[int, ...] = (1, 4)
    ingest_arrays: tuple[int, ...] = (100, 1_000)  # notifications a POST, a row each
    ingest_array_messages: int = 20_000


FULL = Scale(redis_latency=(Steady(1, 1_000, 200), Steady(10, 1_000, 200),
                            Steady(100, 1_000, 100), Steady(1_000, 200, 10)),
             memory_latency=(Steady(1, 1_000, 200), Steady(10, 1_000, 200)),
             burst=10_000, ingest_messages=2_000, idle_clients=(100, 500, 1_000, 5_000))
QUICK = Scale(redis_latency=(Steady(1, 200, 200), Steady(10, 200, 200), Steady(100, 200, 100)),
              memory_latency=(Steady(10, 200, 200),), burst=10_000, ingest_messages=600,
              ingest_arrays=(100,), ingest_array_messages=4_000)
OPEN_FILES_SPARE = 200  # the files a server and this process hold besides the sockets


def run(context: Context) -> list[Result]:
    """The Redis-backed server first (every question), then the ``memory://`` one (latency
    and ingest, both fed through HTTP)."""
    scale = QUICK if context.quick else FULL
    _open_files_for(max(scale.idle_clients) + OPEN_FILES_SPARE, context)
    _flush(context.redis_url)
    results: list[Result] = []
    with JupyterProcess(context.redis_url, SERVER_ARGS) as server:
        results.extend(asyncio.run(_redis_target(server, context, scale)))
        status = server.status()
    results.append(health(server.log_text(), status, "redis", context))
    with JupyterProcess(MEMORY_URL, SERVER_ARGS) as server:
        results.extend(asyncio.run(_memory_target(server, context, scale)))
        status = server.status()
    results.append(health(server.log_text(), status, "memory", context))
    return results


async def _redis_target(server: JupyterProcess, context: Context,
                        scale: Scale) -> list[Result]:
    context.progress("server memory with idle clients (redis)")
    results = await idle_memory(server, scale.idle_clients)
    async with AsyncPublisher(context.redis_url) as publisher:
        async def send(notification: dict[str, Any]) -> None:
            await publisher.publish_many([notification])

        for steady in scale.redis_latency:
            context.progress(f"latency with {steady.clients} clients at {steady.rate:g}/s (redis)")
            results.append(await latency(server, "redis", send, steady))
    context.progress(f"burst of {scale.burst:,} to {scale.burst_clients} clients (redis)")
    results.extend(await burst(server, context.redis_url, scale.burst_clients, scale.burst))
    for connections in scale.ingest_connections:
        context.progress(f"REST ingest, {connections} connections (redis)")
        results.append(await asyncio.to_thread(
            ingest, server, "redis", scale.ingest_messages, connections))
    for size in scale.ingest_arrays:
        context.progress(f"REST ingest, arrays of {size} (redis)")
        results.append(await asyncio.to_thread(ingest_arrays, server, scale.ingest_array_messages,
                                               size, scale.ingest_connections[-1]))
    return results


async def _memory_target(server: JupyterProcess, context: Context,
                         scale: Scale) -> list[Result]:
    results: list[Result] = []
    with RestClient(server) as rest:
        async def send(notification: dict[str, Any]) -> None:
            status = await asyncio.to_thread(rest.post, notification)
            if status != 201:
                raise RuntimeError(f"POST jln/api/notifications answered {status}")

        for steady in scale.memory_latency:
            context.progress(f"latency with {steady.clients} clients (memory, through REST)")
            results.append(await latency(server, "memory", send, steady, via="REST ingest"))
    for connections in scale.ingest_connections:
        context.progress(f"REST ingest, {connections} connections (memory)")
        results.append(await asyncio.to_thread(
            ingest, server, "memory", scale.ingest_messages, connections))
    return results


def _open_files_for(count: int, context: Context) -> None:
    """Raise this process's soft limit of open files to ``count`` (the server started after
    inherits it): thousands of idle clients need a socket each, here and in the server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < count:
        context.progress(f"only {wanted} open files allowed (hard limit): the largest idle "
                         "rows will fail to connect")


def _flush(redis_url: str) -> None:
    """Start from an empty Redis: what the broker suite left is nobody's business here."""
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        client.flushall()
    finally:
        client.close()


# --- WebSocket clients ------------------------------------------------------------------------

@dataclass
class Listener:
    """One tab's view of the socket: its hello, then each frame's text and the moment it came,
    read only once the clock has stopped. Parsing 10,000 frames a second as they come (1,000
    tabs at 10/s) cost this process more CPU than the server it measures, and delayed the
    arrival times of the tabs read after them in the same turn of the loop.

    ``sent`` maps the keys of awaited notifications (``<phase>-<i>``) to the moment they were
    published; others (a warm-up) are ignored. ``done`` is set once ``expected`` of them are
    in, counted in the text by their key.
    """

    sent: dict[str, float]
    expected: int = 0
    phase: str = ""
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _texts: list[str] = field(default_factory=list)
    _arrivals: list[float] = field(default_factory=list)  # no tuple per frame: no GC work
    _counted: int = 0

    def wait_for(self, phase: str, expected: int) -> None:
        self.phase, self.expected = phase, expected

    def reset(self) -> None:
        """Forget the frames so far (a new round)."""
        self._texts.clear()
        self._arrivals.clear()
        self._counted = 0
        self.__dict__.pop("latencies", None)
        self.__dict__.pop("_awaited", None)

    def on_text(self, text: str, arrived: float) -> None:
        if not self.greeted.is_set():
            if json.loads(text).get("type") == "hello":
                self.greeted.set()
            return
        self._texts.append(text)
        self._arrivals.append(arrived)
        if self.expected:
            self._counted += text.count(f'"key":"{self.phase}-')
            if self._counted >= self.expected:
                self.done.set()

    @cached_property
    def latencies(self) -> list[float]:
        """Per awaited notification, from its publish until its frame came (read once the
        run is over)."""
        return [arrived - at for arrived, awaited in zip(self._arrivals, self._awaited, strict=True)
                for at in awaited]

    @property
    def frames(self) -> int:
        """Frames that carried awaited notifications."""
        return sum(1 for awaited in self._awaited if awaited)

    @cached_property
    def _awaited(self) -> list[list[float]]:
        return [[self.sent[n["key"]] for n in json.loads(text).get("notifications", ())
                 if n.get("key") in self.sent] for text in self._texts]


@dataclass
class Tab:
    """A connection with its listener."""

    connection: ws_client.Connection
    listener: Listener


@contextlib.asynccontextmanager
async def tabs(server: JupyterProcess, count: int, sent: dict[str, float]
               ) -> AsyncIterator[list[Tab]]:
    """``count`` connected clients, each past its hello; all closed on leaving, and the server
    seen to have let them go, so the next measurement starts clean."""
    opened: list[Tab] = []
    try:
        for start in range(0, count, CONNECT_CHUNK):
            chunk = min(CONNECT_CHUNK, count - start)
            got = await asyncio.gather(*(_open_tab(server, sent) for _ in range(chunk)),
                                       return_exceptions=True)
            opened.extend(tab for tab in got if isinstance(tab, Tab))
            failed = next((err for err in got if isinstance(err, BaseException)), None)
            if failed is not None:
                raise RuntimeError(f"WebSocket {len(opened) + 1} of {count} did not open: "
                                   f"{failed!r}") from failed
        yield opened
    finally:
        for tab in opened:
            tab.connection.close()
    await _until_connected(server, 0)


async def _open_tab(server: JupyterProcess, sent: dict[str, float]) -> Tab:
    listener = Listener(sent)
    connection = await ws_client.connect(server.ws_url, server.token, listener.on_text,
                                         timeout=WAIT_TIMEOUT)
    try:
        await asyncio.wait_for(listener.greeted.wait(), WAIT_TIMEOUT)
    except BaseException:
        connection.abort()
        raise
    return Tab(connection, listener)


async def _until_connected(server: JupyterProcess, count: int) -> None:
    """Poll ``jln/api/status`` until the server counts ``count`` clients (bounded)."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(server.status)
        if status["clients"]["connected"] == count:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the server did not get to {count} connected clients "
                       f"in {WAIT_TIMEOUT:g}s")


def _closed_codes(opened: Sequence[Tab]) -> str:
    """Close codes of connections the server ended during a measurement, e.g. ``4008 x3``."""
    codes: dict[int, int] = {}
    for tab in opened:
        if tab.connection.closed.done():
            code = tab.connection.closed.result()
            codes[code] = codes.get(code, 0) + 1
    return ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))


def _keyed(i: int, phase: str) -> dict[str, Any]:
    """Notification ``i`` with a key of its own to the phase, so phases never mix."""
    return {**workload.wire(i), "key": f"{phase}-{i}"}


# --- (a) end-to-end latency -------------------------------------------------------------------

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def latency(server: JupyterProcess, target: str, send: Send, steady: Steady,
                  via: str = "") -> Result:
    """From just before each publish until each client's bytes of it arrived: one sample per
    client and notification, at a steady rate. This process's own garbage collector is off
    while the clock runs (a collection walking a thousand clients would be counted as the
    server's delay)."""
    clients, count, per_second = steady.clients, steady.messages, steady.rate
    sent: dict[str, float] = {}
    phase = f"latency{clients}"
    async with tabs(server, clients, sent) as opened:
        await send(_keyed(0, "warm-up"))  # connect and fill caches outside the clock
        for tab in opened:
            tab.listener.wait_for(phase, count)
        clock = CpuClock.start(server)
        with _collector_off():
            await _send_steadily(send, sent, phase, count, per_second)
            await _all_done(opened, WAIT_TIMEOUT)
        cpu = clock.percentages()
        closed = _closed_codes(opened)
    samples = [s for tab in opened for s in tab.listener.latencies]
    short = sum(len(tab.listener.latencies) < count for tab in opened)
    notes = [f"{short} of {clients} clients missed some notifications" if short else "",
             f"closed by the server: {closed}" if closed else ""]
    name = f"latency: publish -> {clients} WebSocket client{'s' if clients > 1 else ''}"
    return Result(SUITE, name + (f" ({via})" if via else ""), target, latency_figures(samples),
                  {"messages": count, "rate_per_s": per_second, "samples": len(samples),
                   "frames": sum(t.listener.frames for t in opened), **cpu},
                  "; ".join(n for n in notes if n), samples)


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _send_steadily(send: Send, sent: dict[str, float], phase: str, count: int,
                         per_second: float) -> None:
    """Notification ``i`` at ``i / per_second`` seconds (at once if running late), its key
    noted with the moment just before its publish."""
    started = time.perf_counter()
    for i in range(count):
        delay = started + i / per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        notification = _keyed(i, phase)
        sent[notification["key"]] = time.perf_counter()
        await send(notification)


async def _all_done(opened: Sequence[Tab], timeout: float) -> None:
    """Wait until every listener has what it expects, or until ``timeout`` (no error: the
    shortfall is reported)."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(t.listener.done.wait() for t in opened)),
                               timeout)


# --- (b) fan-out of a burst -------------------------------------------------------------------

async def burst(server: JupyterProcess, redis_url: str, clients: int,
                count: int) -> list[Result]:
    """``publish_many`` of ``count`` at once (one MULTI/EXEC), until every client has them all;
    then the server's memory, with the clients gone."""
    notifications = [_keyed(i, "burst") for i in range(count)]
    sent: dict[str, float] = {}
    with Publisher(redis_url, maxlen=max(count, 10_000)) as publisher:
        publisher.publish("warm-up", key="warm-up")
        async with tabs(server, clients, sent) as opened:
            for tab in opened:
                tab.listener.wait_for("burst", count)
            clock = CpuClock.start(server)
            started = time.perf_counter()
            sent.update(dict.fromkeys((n["key"] for n in notifications), started))
            await asyncio.to_thread(publisher.publish_many, notifications)
            published = time.perf_counter() - started
            await _all_done(opened, WAIT_TIMEOUT + count / 1000)
            cpu = clock.percentages()
            closed = _closed_codes(opened)
    times = [max(t.listener.latencies, default=float("nan")) for t in opened]
    frames = [t.listener.frames for t in opened]
    received = [len(t.listener.latencies) for t in opened]
    last = max(times)
    notes = [f"only {min(received):,} of {count:,} reached the slowest client"
             if min(received) < count else "",
             f"closed by the server: {closed}" if closed else ""]
    delivery = Result(
        SUITE, f"fan-out: burst of {count:,} to {clients} clients", "redis",
        (Figure("all in", last, "s"), rate(count, last),
         Figure("frames/client", sum(frames) / len(frames), "")),
        {"messages": count, "clients": clients, "publish_s": round(published, 3),
         "first_client_s": round(min(times), 3), "frames_min": min(frames),
         "frames_max": max(frames), **cpu},
        "; ".join(n for n in notes if n))
    await asyncio.sleep(0.5)  # let the server drop what it held for the burst
    after = Result(SUITE, "memory: server RSS after the burst", "redis",
                   (Figure("rss", server.rss() / MB, "MB"),
                    Figure("peak", server.peak_rss() / MB, "MB")), {"clients": 0})
    return [delivery, after]


# --- (c) memory -------------------------------------------------------------------------------

async def idle_memory(server: JupyterProcess, counts: Sequence[int]) -> list[Result]:
    """RSS with no client (after one has come and gone: first-use costs are not per
    connection), then with ``counts`` idle clients connected."""
    async with tabs(server, 1, {}):
        pass
    await asyncio.sleep(0.3)
    idle = server.rss()
    results = [Result(SUITE, "memory: server RSS, idle", "redis",
                      (Figure("rss", idle / MB, "MB"),), {"clients": 0})]
    for count in counts:
        async with tabs(server, count, {}):
            await _until_connected(server, count)
            await asyncio.sleep(0.3)
            rss = server.rss()
        results.append(Result(
            SUITE, f"memory: server RSS, {count} idle clients", "redis",
            (Figure("rss", rss / MB, "MB"), Figure("per client", (rss - idle) / count / KB, "KB")),
            {"clients": count}))
    return results


# --- (d) REST ingest --------------------------------------------------------------------------

def ingest(server: JupyterProcess, target: str, count: int, connections: int) -> Result:
    """``count`` POSTs spread over ``connections`` keep-alive connections, each sending its
    share one after the other; bodies encoded beforehand."""
    bodies = [json.dumps(_keyed(i, "ingest")).encode() for i in range(count)]
    posted, note = ingest_checked(server, bodies, connections)
    return Result(SUITE, f"ingest: POST notifications, {connections} keep-alive "
                  f"connection{'s' if connections > 1 else ''}", target,
                  (rate(len(bodies), posted.seconds),),
                  {"messages": len(bodies), "connections": connections, **posted.cpu}, note)


def ingest_arrays(server: JupyterProcess, count: int, size: int, connections: int) -> Result:
    """``count`` notifications POSTed as JSON arrays of ``size``, over ``connections``
    keep-alive connections: each array is written in one round trip."""
    bodies = [json.dumps([_keyed(i * size + j, "array") for j in range(size)]).encode()
              for i in range(count // size)]
    posted, note = ingest_checked(server, bodies, connections, size)
    return Result(SUITE, f"ingest: POST arrays of {size}, {connections} keep-alive "
                  f"connection{'s' if connections > 1 else ''}", "redis",
                  (rate(len(bodies) * size, posted.seconds),),
                  {"messages": len(bodies) * size, "posts": len(bodies),
                   "connections": connections, **posted.cpu}, note)


def ingest_checked(server: JupyterProcess, bodies: Sequence[bytes], connections: int,
                   each: int = 1) -> tuple[Posted, str]:
    """``post_concurrently`` to JLN's ingest, and a note unless every POST was answered 201
    and counted by the server as accepted (its ``jln/api/status``, warm-ups aside); each body
    holds ``each`` notifications."""
    accepted_before = server.status()["ingest"]["accepted"]
    posted = post_concurrently(server, bodies, connections,
                               json.dumps(_keyed(0, "warm-up")).encode())
    accepted = server.status()["ingest"]["accepted"] - accepted_before - connections
    refused = posted.refused(201)
    notes = [f"answers other than 201: {refused}" if refused else "",
             f"the server counted {accepted} accepted" if accepted != len(bodies) * each
             else ""]
    return posted, "; ".join(filter(None, notes))


# --- how the server held up ---------------------------------------------------------------

_LEVEL = re.compile(r"^\[([WEC]) [0-9-]+ [0-9:.]+ \w+\] (.*)")
_TRACEBACK = "Traceback (most recent call last)"
_OUR_SIGTERM = "received signal 15"  # logged as critical, but it is how the suite stops it


def health(text: str, status: dict[str, Any], target: str, context: Context) -> Result:
    """What the server logged at warning level or above from start to stop (the log is kept
    next to the report), and its own counters (``status``, taken just before it stopped) of
    slow clients cut off, reader reconnects and rejected publishes."""
    if context.artifacts is not None:
        context.artifacts.mkdir(parents=True, exist_ok=True)
        (context.artifacts / f"server-{target}.log").write_text(text)
    found = [m.groups() for m in map(_LEVEL.match, text.splitlines())
             if m and not m.group(2).startswith(_OUR_SIGTERM)]
    warnings = [message for level, message in found if level == "W"] + _bare_lines(text)
    errors = [message for level, message in found if level != "W"]
    return Result(
        SUITE, "server health: log and counters", target,
        (Figure("warnings", len(warnings), ""), Figure("errors", len(errors), ""),
         Figure("tracebacks", text.count(_TRACEBACK), ""),
         Figure("cut off", status["clients"]["cutOffSlow"], "")),
        {"reader_reconnects": status["reader"]["reconnects"],
         "ingest_rejected": status["ingest"]["rejected"], "log": f"server-{target}.log"},
        " | ".join(list(dict.fromkeys(errors + warnings))[:3]))


def _bare_lines(text: str) -> list[str]:
    """Lines in no log format: what loggers without a handler (``jln.*`` outside
    jupyter_server's own) print through Python's last-resort handler, warnings and worse."""
    return [line for line in text.splitlines()
            if line and not line.startswith(("[", " ", "\t", _TRACEBACK))]
