"""Broker suite: what ``jln_broker`` costs against a real Redis and the embedded ``memory://``.

Four questions: how fast can we publish (one at a time, in batches, concurrently); how long
from XADD until a running ``StreamReader`` yields the entry; how fast does a reader catch up on
a backlog (a server starting after an outage); and how many bytes an entry takes in Redis in
each wire form. Every loop is bounded by a message count and every wait by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis

from jln_broker import AsyncPublisher, Cursor, Notification, Publisher, StreamReader, validate
from jln_broker.connection import async_client, sync_client
from jln_broker.protocol import StreamNames, decode_entry, encode_entry
from jln_broker.reader import Batch

from . import workload
from .results import Figure, Result, latency_figures, rate
from .suite import Context

SUITE = "broker"
STREAM = StreamNames().broadcast
MEMORY_URL = "memory://jln-bench"
READ_COUNT = 500  # entries per XREAD, the reader's default


@dataclass(frozen=True)
class Scale:
    """How much each measurement does: ``FULL`` takes about 30 s here, ``QUICK`` about 10 s."""

    sync_publish: int
    batch_publish: int
    async_publish: int
    latency_messages: int
    latency_rate: float  # messages per second: steady, well under what Redis can take
    catchup_entries: int
    memory_entries: int = 10_000
    batch_size: int = 100
    large_batch_publish: int = 50_000
    large_batch_size: int = 1_000
    async_tasks: int = 50


FULL = Scale(sync_publish=5_000, batch_publish=20_000, async_publish=10_000,
             latency_messages=2_000, latency_rate=500, catchup_entries=50_000)
QUICK = Scale(sync_publish=1_000, batch_publish=5_000, async_publish=2_500,
              large_batch_publish=10_000,
              latency_messages=500, latency_rate=500, catchup_entries=10_000)


@dataclass(frozen=True)
class Target:
    """A broker URL under a short name for the table (``redis`` or ``memory``)."""

    name: str
    url: str

    def reset(self) -> None:
        """Empty it, so no measurement pays for (or benefits from) the previous one's data."""
        client = sync_client(self.url)
        try:
            client.flushall()
        finally:
            client.close()


Measurement = Callable[[Target, Scale], Result]


def run(context: Context) -> list[Result]:
    """Every measurement on both targets (rows of one measurement next to each other), then the
    memory comparison, which only a real Redis can answer."""
    scale = QUICK if context.quick else FULL
    targets = (Target("redis", context.redis_url), Target("memory", MEMORY_URL))
    measurements: tuple[Measurement, ...] = (
        publish_one_by_one, publish_in_batches, publish_in_large_batches,
        publish_built_in_large_batches, publish_concurrently, end_to_end_latency, catch_up)
    results: list[Result] = []
    for measure in measurements:
        for target in targets:
            context.progress(f"{measure.__name__} on {target.name}")
            target.reset()
            results.append(measure(target, scale))
    for form in ("msgpack", "flat"):
        context.progress(f"memory_per_entry, {form} form")
        results.append(memory_per_entry(context.redis_url, form, scale.memory_entries))
    return results


# --- (a) publish throughput -------------------------------------------------------------------

def publish_one_by_one(target: Target, scale: Scale) -> Result:
    """``Publisher.publish`` in a loop: a script or CLI sending as things happen."""
    count = scale.sync_publish
    with Publisher(target.url) as publisher:
        publisher.publish("warm-up")  # connect outside the timed part
        started = time.perf_counter()
        for i in range(count):
            publisher.publish(workload.message(i), **workload.publish_kwargs(i))
        elapsed = time.perf_counter() - started
    return Result(SUITE, "publish: publish(), one at a time", target.name,
                  (rate(count, elapsed),), {"messages": count})


def publish_in_batches(target: Target, scale: Scale) -> Result:
    """``publish_many`` of ``batch_size`` mappings (JSON bodies, as a caller has them): one
    publish script call, one round trip, per batch."""
    return _publish_batches(target, scale.batch_publish, scale.batch_size, workload.wire, "")


def publish_in_large_batches(target: Target, scale: Scale) -> Result:
    """The same in batches of ``large_batch_size``: what the publisher can carry."""
    return _publish_batches(target, scale.large_batch_publish, scale.large_batch_size,
                            workload.wire, "")


def publish_built_in_large_batches(target: Target, scale: Scale) -> Result:
    """Batches of Notifications a service built beforehand (``validate``): the checks are
    done, what is left is msgpack once each and the script call."""
    return _publish_batches(target, scale.large_batch_publish, scale.large_batch_size,
                            lambda i: validate(workload.wire(i)), " of built Notifications")


def _publish_batches(target: Target, count: int, size: int,
                     make: Callable[[int], Mapping[str, Any] | Notification], what: str
                     ) -> Result:
    """Each batch made just before its call (not all at once: 50,000 held would be a lot of
    memory); only the calls are timed."""
    spent = 0.0
    with Publisher(target.url) as publisher:
        publisher.publish("warm-up")
        for start in range(0, count, size):
            batch = [make(i) for i in range(start, start + size)]
            started = time.perf_counter()
            publisher.publish_many(batch)
            spent += time.perf_counter() - started
    return Result(SUITE, f"publish: publish_many(){what}, batches of {size:,}", target.name,
                  (rate(count, spent),), {"messages": count, "batch_size": size})


def publish_concurrently(target: Target, scale: Scale) -> Result:
    """One ``AsyncPublisher`` shared by ``async_tasks`` tasks: a busy service."""
    tasks = scale.async_tasks
    per_task = scale.async_publish // tasks
    elapsed = asyncio.run(_publish_concurrently(target.url, tasks, per_task))
    count = tasks * per_task
    return Result(SUITE, f"publish: AsyncPublisher, {tasks} tasks", target.name,
                  (rate(count, elapsed),), {"messages": count, "tasks": tasks})


async def _publish_concurrently(url: str, tasks: int, per_task: int) -> float:
    async def worker(first: int) -> None:
        for i in range(first, first + per_task):
            await publisher.publish(workload.message(i), **workload.publish_kwargs(i))

    async with AsyncPublisher(url) as publisher:
        # One publish per task first, so the pool has its connections before the clock starts.
        await asyncio.gather(*(publisher.publish("warm-up") for _ in range(tasks)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(t * per_task) for t in range(tasks)))
        return time.perf_counter() - started


# --- (b) end-to-end latency -------------------------------------------------------------------

def end_to_end_latency(target: Target, scale: Scale) -> Result:
    """From just before ``AsyncPublisher.publish`` until a running ``StreamReader`` yields the
    entry, at a steady rate. Publisher and reader share one event loop, as they would in a
    Jupyter server publishing to itself; the figure includes the publish round trip."""
    count, per_second = scale.latency_messages, scale.latency_rate
    timeout = count / per_second + 15.0
    samples = asyncio.run(_latency_samples(target.url, count, per_second, timeout))
    note = "" if len(samples) == count else f"only {len(samples)} of {count} arrived in time"
    return Result(SUITE, "latency: publish -> reader yields", target.name,
                  latency_figures(samples),
                  {"messages": count, "rate_per_s": per_second, "received": len(samples)}, note,
                  samples)


async def _latency_samples(url: str, count: int, per_second: float,
                           timeout: float) -> list[float]:
    """Latencies in seconds; fewer than ``count`` if some had not arrived by ``timeout``."""
    sent: dict[str, float] = {}
    samples: list[float] = []
    client = async_client(url)
    reader = StreamReader(client, [STREAM], block_ms=1000)
    try:
        await asyncio.wait_for(reader.start(), 10.0)
        receiving = asyncio.create_task(_receive(reader, sent, samples, count))
        try:
            await asyncio.wait_for(_send_steadily(url, sent, count, per_second), timeout)
            await asyncio.wait_for(receiving, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
    finally:
        await client.aclose()
    return samples


async def _send_steadily(url: str, sent: dict[str, float], count: int,
                         per_second: float) -> None:
    """Publish message ``i`` at ``i / per_second`` seconds (or at once if running late),
    noting the moment just before each publish under the notification's key."""
    async with AsyncPublisher(url) as publisher:
        await publisher.publish("warm-up", key="warm-up")
        started = time.perf_counter()
        for i in range(count):
            delay = started + i / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            fields = workload.publish_kwargs(i)
            sent[fields["key"]] = time.perf_counter()
            await publisher.publish(workload.message(i), **fields)


async def _receive(reader: StreamReader, sent: dict[str, float], samples: list[float],
                   count: int) -> None:
    """Append each yielded notification's latency to ``samples`` until ``count`` are in."""
    async with _batches(reader) as batches:
        async for batch in batches:
            now = time.perf_counter()
            samples.extend(now - sent[d.notification.key] for d in batch.items
                           if d.notification.key in sent)
            if len(samples) >= count:
                return


def _batches(reader: StreamReader) -> contextlib.aclosing[AsyncGenerator[Batch, None]]:
    """The reader's batches, closed when the block is left (``batches()`` is a generator, though
    typed as a plain iterator)."""
    return contextlib.aclosing(cast("AsyncGenerator[Batch, None]", reader.batches()))


# --- (c) reader catch-up ----------------------------------------------------------------------

def catch_up(target: Target, scale: Scale) -> Result:
    """Time for a ``StreamReader`` started at ``0-0`` to yield a backlog of entries."""
    count = scale.catchup_entries
    _fill(target.url, count)
    elapsed, yielded = asyncio.run(_drain(target.url, count, timeout=120.0))
    note = "" if yielded == count else f"only {yielded} of {count} yielded before the timeout"
    return Result(SUITE, f"catch-up: backlog of {count:,} entries",
                  target.name, (Figure("time", elapsed, "s"), rate(yielded, elapsed)),
                  {"entries": count, "xread_count": READ_COUNT}, note)


def _fill(url: str, count: int, chunk: int = 1_000) -> None:
    """``count`` notifications through the Python publisher, ``chunk`` per round trip, with a
    MAXLEN high enough to keep them all."""
    with Publisher(url, maxlen=count) as publisher:
        for start in range(0, count, chunk):
            publisher.publish_many(map(workload.wire, range(start, min(count, start + chunk))))


async def _drain(url: str, count: int, timeout: float) -> tuple[float, int]:
    client = async_client(url)
    reader = StreamReader(client, [STREAM], Cursor({STREAM: "0-0"}), block_ms=1000,
                          count=READ_COUNT)
    yielded = 0

    async def consume() -> None:
        nonlocal yielded
        async with _batches(reader) as batches:
            async for batch in batches:
                yielded += len(batch.items)
                if yielded >= count:
                    return

    started = time.perf_counter()
    try:
        await asyncio.wait_for(consume(), timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        elapsed = time.perf_counter() - started
        await client.aclose()
    return elapsed, yielded


# --- (d) memory per entry ---------------------------------------------------------------------

def memory_per_entry(redis_url: str, form: str, count: int) -> Result:
    """Bytes a stream of ``count`` typical notifications takes, by ``MEMORY USAGE`` (the key
    alone, every node sampled) and by the growth of ``used_memory`` (all allocations)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        client.flushall()
        before = int(client.info("memory")["used_memory"])
        if form == "msgpack":
            payload = _write_msgpack(redis_url, count)
        else:
            payload = _write_flat(client, count)
        after = int(client.info("memory")["used_memory"])
        stored = int(client.xlen(STREAM))
        usage = int(client.memory_usage(STREAM, samples=0) or 0)
        _check_decodes(client)
    finally:
        client.close()
    return Result(
        SUITE, f"memory: {count:,} entries, {form} form", "redis",
        (Figure("usage", usage / stored, "B/entry"),
         Figure("growth", (after - before) / stored, "B/entry"),
         Figure("payload", payload / count, "B/entry")),
        {"entries": stored, "memory_usage_bytes": usage,
         "used_memory_growth_bytes": after - before},
    )


def _write_msgpack(url: str, count: int) -> int:
    """Through the Python publisher; returns the bytes of field names and values written."""
    _fill(url, count)
    return sum(_entry_bytes(encode_entry(validate(workload.wire(i)))) for i in range(count))


def _write_flat(client: redis.Redis, count: int, chunk: int = 1_000) -> int:
    """As another language's client or ``redis-cli`` would: one string per field."""
    written = 0
    for start in range(0, count, chunk):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + chunk)):
            fields = workload.flat(i)
            written += _entry_bytes(fields)
            pipe.xadd(STREAM, fields, maxlen=count, approximate=True)  # type: ignore[arg-type]
        pipe.execute()
    return written


def _entry_bytes(fields: Mapping[str, str | bytes]) -> int:
    return sum(len(_utf8(name)) + len(_utf8(value)) for name, value in fields.items())


def _utf8(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def _check_decodes(client: redis.Redis) -> None:
    """Both forms must read back as the same notification, or the comparison is unfair."""
    entries = client.xrange(STREAM, count=1)
    entry_id, fields = entries[0] if entries else (None, None)
    if fields is None:
        raise RuntimeError(f"the stream's first entry ({entry_id!r}) has no fields")
    decoded = decode_entry(cast("dict[bytes, bytes]", fields))  # no decode_responses: bytes
    if decoded.key != "run-0" or decoded.actions[0].link != "https://ci.example.org/runs/0":
        raise RuntimeError(f"entry {entry_id!r} did not read back as written: {decoded}")
