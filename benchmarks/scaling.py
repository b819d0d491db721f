"""Scaling suite: many user servers, one Redis (the JupyterHub shape).

N user servers, each a reader of broadcast, its user stream and its group's stream with its
own cursor, stand in worker processes (``scaling_readers``) while a publisher sends a steady
mix of broadcast, group and user notifications. For each N and each way of waking the readers
(``WAKEUPS``), run interleaved: delivery latency to every reader, Redis's CPU (``INFO cpu``) and
commands per second (``INFO stats``) over the measured seconds, lost and duplicated deliveries
(both must be 0), and the readers' own CPU. Then, per wake-up, the N at which Redis's one core
would be busy all the time, extrapolated from its CPU at the sizes measured.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import time
import uuid
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import redis

from jln_broker import Publisher
from jln_broker.protocol import StreamNames

from .results import Figure, Result, latency_figures
from .scaling_readers import WAKEUPS, Job, Outcome, host
from .suite import Context

SUITE = "scaling"
GROUP_SIZE = 10  # users per group: every server reads one group stream
MIX = ("broadcast",) + ("group",) * 5 + ("user",) * 14
"""Of every 20 notifications, 1 to everyone, 5 to a group, 14 to one user."""


@dataclass(frozen=True)
class Scale:
    """``FULL`` takes about 2.5 minutes here, ``QUICK`` about 25 s."""

    sizes: tuple[int, ...]
    seconds: float  # measured, at a steady rate
    warmup: float  # published before the measurement, not counted in latency or CPU
    rate: float  # notifications per second, all audiences together
    workers: int = 2  # processes the servers are spread over (Redis needs a core of its own)


FULL = Scale(sizes=(10, 100, 1000), seconds=8.0, warmup=1.0, rate=20)
QUICK = Scale(sizes=(10, 100), seconds=1.5, warmup=0.5, rate=20)


@dataclass(frozen=True)
class Measured:
    """One run: a wake-up at one N."""

    wakeup: str
    servers: int
    seconds: float
    published: int
    redis_cpu: float  # seconds of Redis CPU (user + sys) over ``seconds``
    commands: int
    reads: int  # XREAD calls Redis served over ``seconds``
    readers_cpu: float  # seconds of the worker processes' CPU over ``seconds``
    outcome: Outcome


def run(context: Context) -> list[Result]:
    return measure(context.redis_url, QUICK if context.quick else FULL, context.progress)


def measure(url: str, scale: Scale, progress: Callable[[str], None]) -> list[Result]:
    """Every wake-up at every size of ``scale``, then each wake-up's saturation estimate."""
    measured: list[Measured] = []
    with _Workers(scale.workers) as workers:
        for turn, size in enumerate(scale.sizes):
            for wakeup in _interleaved(turn):
                progress(f"scaling: {size} servers, {wakeup}")
                measured.append(_measure(url, workers, wakeup, size, scale))
    return [_row(m, scale) for m in measured] + [
        _saturation(wakeup, [m for m in measured if m.wakeup == wakeup]) for wakeup in WAKEUPS]


def _interleaved(turn: int) -> tuple[str, ...]:
    """Each size's runs back to back, the order turned each time, so drift on a shared machine
    does not favour one wake-up."""
    turn %= len(WAKEUPS)
    return WAKEUPS[turn:] + WAKEUPS[:turn]


class _Workers:
    """The processes the servers live in, started once (spawned: a clean interpreter) and
    stopped at the end whatever happens."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=host, args=(theirs,), daemon=True)
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(p.pid) for p in self.processes if p.pid is not None)

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):  # a worker already gone
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from ``/proc/<pid>/stat`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _measure(url: str, workers: _Workers, wakeup: str, size: int, scale: Scale) -> Measured:
    """One run with fresh streams (a prefix of its own, deleted after)."""
    prefix = f"jlnscale-{uuid.uuid4().hex[:8]}"
    names = StreamNames(prefix)
    users = [(f"u{i}", f"g{i // GROUP_SIZE}") for i in range(size)]
    for number, pipe in enumerate(workers.pipes):
        pipe.send(Job(url, wakeup, prefix, users[number::len(workers.pipes)]))
    for pipe in workers.pipes:
        if (answer := _receive(pipe, timeout=60)) != "ready":
            raise RuntimeError(f"a scaling worker answered {answer!r:.200}, not ready")
    client = redis.Redis.from_url(url, socket_timeout=30)
    publisher = Publisher(url, prefix=prefix, maxlen=10_000_000)
    try:
        published: dict[str, int] = {}
        sends = _schedule(names, users)
        _publish(publisher, client, sends, scale.warmup, scale.rate, wakeup, published, False)
        before = _snapshot(client), workers.cpu_seconds(), time.monotonic()
        count = _publish(publisher, client, sends, scale.seconds, scale.rate, wakeup, published,
                         True)
        after = _snapshot(client), workers.cpu_seconds(), time.monotonic()
        outcomes = [_finish(pipe, published) for pipe in workers.pipes]
    finally:
        publisher.close()
        _delete(client, prefix)
        client.close()
    return Measured(wakeup, size, after[2] - before[2], count, after[0].cpu - before[0].cpu,
                    after[0].commands - before[0].commands, after[0].reads - before[0].reads,
                    after[1] - before[1], _merged(outcomes))


def _schedule(names: StreamNames, users: Sequence[tuple[str, str]]
              ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Endless (stream, audience) pairs in ``MIX``'s proportions, each user and each group in
    turn."""
    groups = sorted({group for _, group in users})
    sent = {"group": 0, "user": 0}
    while True:
        for scope in MIX:
            if scope == "broadcast":
                yield names.broadcast, {}
                continue
            number, sent[scope] = sent[scope], sent[scope] + 1
            if scope == "group":
                group = groups[number % len(groups)]
                yield names.group(group), {"groups": [group]}
            else:
                user = users[number % len(users)][0]
                yield names.user(user), {"users": [user]}


def _publish(publisher: Publisher, client: redis.Redis,
             sends: Iterator[tuple[str, dict[str, Any]]], seconds: float, rate: float,
             wakeup: str, published: dict[str, int], measured: bool) -> int:
    """Publish at ``rate`` for ``seconds`` (a slot missed is sent at once, not skipped), with
    a hint on the stream's sharded channel when the readers wait for one."""
    count = int(seconds * rate)
    start = time.monotonic()
    for number in range(count):
        delay = start + number / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        stream, audience = next(sends)
        publisher.publish("Scaling check", data={"sentAt": time.time(), "measured": measured},
                          **audience)
        if wakeup == "hint":
            client.spublish(stream, "")
        published[stream] = published.get(stream, 0) + 1
    return count


@dataclass(frozen=True)
class _Counters:
    cpu: float  # seconds, user + sys, all threads
    commands: int
    reads: int  # XREAD calls


def _snapshot(client: redis.Redis) -> _Counters:
    """What Redis has spent and served so far, by its own count."""
    cpu = client.info("cpu")
    calls = client.info("commandstats").get("cmdstat_xread", {}).get("calls", 0)
    return _Counters(float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
                     int(client.info("stats")["total_commands_processed"]), int(calls))


def _finish(pipe: Connection, published: dict[str, int]) -> Outcome:
    pipe.send(published)
    if not isinstance(outcome := _receive(pipe, timeout=30), Outcome):
        raise RuntimeError(f"a scaling worker answered {outcome!r:.200}, not its outcome")
    return outcome


def _receive(pipe: Connection, timeout: float) -> object:
    """A worker's next answer; one that hangs (or died) fails the suite rather than stall it."""
    if not pipe.poll(timeout):
        raise RuntimeError(f"a scaling worker did not answer within {timeout:g} s")
    return pipe.recv()


def _merged(outcomes: Sequence[Outcome]) -> Outcome:
    return Outcome(sum(o.expected for o in outcomes), sum(o.received for o in outcomes),
                   sum(o.duplicated for o in outcomes), b"".join(o.latencies for o in outcomes))


def _delete(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start:start + 1000])


def _row(m: Measured, scale: Scale) -> Result:
    latencies = _latencies(m)
    lost = m.outcome.expected - m.outcome.received
    figures = (*latency_figures(latencies),
               Figure("redis cpu", 100 * m.redis_cpu / m.seconds, "%"),
               Figure("ops", m.commands / m.seconds, "/s"),
               Figure("reads", m.reads / m.seconds, "/s"),
               Figure("deliveries", len(latencies) / m.seconds, "/s"),
               Figure("lost", lost, ""), Figure("duplicated", m.outcome.duplicated, ""),
               Figure("readers cpu", 100 * m.readers_cpu / m.seconds, "%"))
    behind = m.seconds - m.published / scale.rate
    note = "; ".join(part for part in (
        f"{lost} deliveries lost" if lost else "",
        f"{m.outcome.duplicated} duplicated" if m.outcome.duplicated else "",
        f"the publisher fell {behind:.1f} s behind its rate" if behind > 0.5 else "") if part)
    return Result(SUITE, f"{m.wakeup}: {m.servers:,} servers", "redis", figures,
                  {"servers": m.servers, "groups": math.ceil(m.servers / GROUP_SIZE),
                   "rate_per_s": scale.rate, "mix": "1:5:14", "seconds": scale.seconds,
                   "workers": scale.workers}, note, latencies)


def _latencies(m: Measured) -> array[float]:
    latencies = array("d")
    latencies.frombytes(m.outcome.latencies)
    return latencies


def _per_read_us(m: Measured) -> float:
    """Redis CPU per reader's read, its fixed costs (cron, publishing) included: meaningful
    at the largest N, where they are small beside the reads."""
    return m.redis_cpu / m.reads * 1e6 if m.reads else math.nan


def _saturation(wakeup: str, runs: Sequence[Measured]) -> Result:
    """Redis CPU as a straight line in N through the sizes measured: the N where it reaches
    one core, at this rate and mix; and how many reads one core serves at the largest N."""
    points = [(m.servers, 100 * m.redis_cpu / m.seconds) for m in runs]
    slope, base = _line(points)
    biggest = max(runs, key=lambda m: m.servers)
    per_core = Figure("reads per core", 1e6 / _per_read_us(biggest), "/s")
    if slope <= 0:  # within the noise at these sizes (a short run, or reads shared)
        return Result(SUITE, f"{wakeup}: one Redis core full at", "redis", (per_core,),
                      {"from": ",".join(str(n) for n, _ in points)},
                      "Redis's CPU did not grow with the servers at these sizes: no line "
                      "to extrapolate")
    return Result(SUITE, f"{wakeup}: one Redis core full at", "redis",
                  (Figure("servers", (100 - base) / slope, ""),
                   Figure("per server", slope, "% cpu"), per_core),
                  {"from": ",".join(str(n) for n, _ in points)},
                  "extrapolated: a straight line through Redis's CPU at the sizes measured")


def _line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0, mean_y
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return slope, mean_y - slope * mean_x
