"""StreamReader against a real redis-server: both entry forms, bad entries, exact cursors,
replay, and a Redis crash in the middle of a read. One test shows the memory:// broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from jln_broker import AsyncPublisher, Cursor, Delivered, StreamReader
from jln_broker.connection import async_client
from jln_broker.reader import Decoder, Page, read_range

if TYPE_CHECKING:
    from conftest import RedisServer

A, B, C = "jln:broadcast", "jln:group:ml", "jln:user:ada"


class Follower:
    """A StreamReader consumed by a background task; ``take`` waits for what it yields and
    re-raises the reader's own error if it died instead."""

    def __init__(self, reader: StreamReader) -> None:
        self.reader = reader
        self.seen: asyncio.Queue[Delivered] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def follow(self) -> None:
        await asyncio.wait_for(self.reader.start(), 5)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.reader.batches():
            for record in batch.items:
                self.seen.put_nowait(record)

    async def take(self, count: int, timeout: float = 5.0) -> list[Delivered]:
        return [await self._next(timeout) for _ in range(count)]

    async def _next(self, timeout: float) -> Delivered:
        assert self.task is not None
        getter = asyncio.ensure_future(self.seen.get())
        done, _ = await asyncio.wait({getter, self.task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self.task in done:
            self.task.result()  # the reader's own error, if it crashed
        raise AssertionError(f"the reader delivered nothing within {timeout}s")

    async def stop(self) -> None:
        """Cancel the reader task, as its documentation says, and check that it ends."""
        if self.task is None:
            return
        self.task.cancel()
        await stopped(self.task, self.reader.block_ms)


async def stopped(task: asyncio.Task[None], block_ms: int) -> None:
    """Wait for a cancelled reader task to end: at once, or when its current XREAD returns."""
    limit = block_ms / 1000 + 2
    done, _ = await asyncio.wait({task}, timeout=limit)
    assert done, f"the reader ignored cancellation for {limit:g}s"


@contextlib.asynccontextmanager
async def following(url: str, streams: Sequence[str], cursor: Cursor | None = None,
                    **options: Any) -> AsyncIterator[Follower]:
    """A reader on ``streams`` that has fixed its start position and is running."""
    client = async_client(url)
    options.setdefault("block_ms", 1_000)
    follower = Follower(StreamReader(client, streams, cursor, **options))
    try:
        await follower.follow()
        yield follower
    finally:
        await follower.stop()
        await client.aclose()


async def cli(server: RedisServer, *args: str) -> str:
    """Real ``redis-cli``, off the event loop; returns its output without the newline."""
    return (await asyncio.to_thread(server.cli, *args)).strip()


def messages(records: Sequence[Delivered]) -> list[str]:
    return [r.notification.message for r in records]


@pytest.mark.asyncio
async def test_entry_written_with_redis_cli_is_delivered(redis_server: RedisServer,
                                                         redis_url: str) -> None:
    async with following(redis_url, [A]) as follower:
        entry_id = await cli(redis_server, "XADD", A, "*", "message", "hi", "type", "success",
                             "autoClose", "false")
        [record] = await follower.take(1)

    assert record.id == f"{A}/{entry_id}"
    assert (record.notification.message, record.notification.type) == ("hi", "success")
    assert record.notification.auto_close is False


@pytest.mark.asyncio
async def test_entry_from_the_publisher_is_delivered_whole(redis_url: str) -> None:
    actions = [{"label": "Open", "commandId": "docmanager:open", "args": {"path": "a.ipynb"}}]
    async with following(redis_url, [A, C]) as follower, AsyncPublisher(redis_url) as pub:
        [published] = await pub.publish("Job 42 done", type="success", auto_close=0,
                                        actions=actions, data={"job": 42}, users=["ada"])
        [record] = await follower.take(1)

    assert record.id == published
    assert record.notification.auto_close == 0 and record.notification.auto_close is not False
    assert record.notification.actions[0].args == {"path": "a.ipynb"}
    assert record.notification.data == {"job": 42}


@pytest.mark.asyncio
async def test_a_notification_the_reader_was_told_of_is_not_validated_again(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a server publishes and reads back is taken as validated at ingest, and is the
    very notification decoding its entry would give; anything else is still decoded."""
    from jln_broker import reader as reader_module
    from jln_broker.model import validate
    from jln_broker.protocol import decode_entry

    sent = validate({"message": "Job 42 done", "type": "success", "users": ["ada"],
                     "groups": ["ml"], "excludeUsers": ["bob"], "data": {"job": 42},
                     "actions": [{"label": "Open", "link": "https://example.org/42"}],
                     "source": {"kind": "terminal", "name": "3"}})
    decoder = Decoder()
    decoder.expect(sent)
    async with AsyncPublisher(redis_url) as pub:
        await pub.publish_many([sent])
        await pub.publish("someone else's", users=["ada"])
    client = async_client(redis_url)
    entries = await client.xrange(C)
    await client.aclose()
    fresh = [decode_entry(fields) for _, fields in entries]

    def refused(*args: Any) -> Any:
        raise ValueError("decoded again")

    monkeypatch.setattr(reader_module, "decode_entry", refused)
    delivered = decoder.decode(C, entries, int(time.time() * 1000))

    assert [d.notification for d in delivered] == fresh[:1]
    assert decoder.stats.malformed == 1  # the other entry was decoded (here: refused)


@pytest.mark.asyncio
async def test_reader_starts_at_the_end_and_picks_up_streams_created_later(
        redis_server: RedisServer, redis_url: str) -> None:
    await cli(redis_server, "XADD", A, "*", "message", "old news")

    async with following(redis_url, [A, C]) as follower:
        await cli(redis_server, "XADD", C, "*", "message", "first on a new stream")
        await cli(redis_server, "XADD", A, "*", "message", "fresh")
        records = await follower.take(2)

    assert messages(records) == ["first on a new stream", "fresh"]


@pytest.mark.asyncio
async def test_malformed_entries_are_skipped_counted_and_logged_once(
        redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="jln.reader")
    raw = async_client(redis_url)
    async with following(redis_url, [A]) as follower:
        bad_ids = [
            await cli(redis_server, "XADD", A, "*", "type", "info"),
            await cli(redis_server, "XADD", A, "*", "message", "x", "actions", "{nope"),
            await cli(redis_server, "XADD", A, "*", "message", "x", "autoClose", "²"),
            (await raw.xadd(A, {"p": b"\xc1\x00garbage"})).decode(),
            (await raw.xadd(A, {"message": b"caf\xe9"})).decode(),
        ]
        await cli(redis_server, "XADD", A, "*", "message", "still here")
        records = await follower.take(1)
    await raw.aclose()

    assert messages(records) == ["still here"]
    assert follower.reader.stats.malformed == len(bad_ids)
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "jln.reader" and "malformed" in r.getMessage()]
    assert len(warnings) == len(bad_ids)
    for entry_id in bad_ids:
        assert sum(entry_id in w and A in w for w in warnings) == 1


@pytest.mark.asyncio
async def test_same_millisecond_ids_in_two_streams_are_each_delivered_once(
        redis_server: RedisServer, redis_url: str) -> None:
    for stream, entry_id in [(A, "1000-0"), (B, "1000-0"), (A, "1000-1"), (B, "2000-0")]:
        await cli(redis_server, "XADD", stream, entry_id, "message", f"{stream}@{entry_id}")

    async with following(redis_url, [A, B], Cursor({}), count=1) as follower:
        records = await follower.take(4)
        await cli(redis_server, "XADD", B, "3000-0", "message", "end")
        [end] = await follower.take(1)

    assert sorted(r.id for r in records) == [f"{A}/1000-0", f"{A}/1000-1",
                                             f"{B}/1000-0", f"{B}/2000-0"]
    assert [r.created_at for r in records] == [1000, 1000, 1000, 2000]
    assert end.id == f"{B}/3000-0"
    assert follower.seen.empty()


@pytest.mark.asyncio
async def test_resuming_from_an_encoded_cursor_delivers_exactly_the_rest(
        redis_server: RedisServer, redis_url: str) -> None:
    for stream, entry_id in [(A, "1000-0"), (B, "1000-0"), (A, "1000-1"), (B, "2000-0"),
                             (A, "3000-0")]:
        await cli(redis_server, "XADD", stream, entry_id, "message", f"{stream}@{entry_id}")
    client = async_client(redis_url)
    first = StreamReader(client, [A, B], Cursor({}), count=1)
    async with contextlib.aclosing(first.batches()) as batches:
        first_batch = await asyncio.wait_for(anext(batches), 5)
    await client.aclose()
    saved = first_batch.cursor.encode()

    async with following(redis_url, [A, B], Cursor.decode(saved)) as follower:
        rest = await follower.take(3)
        await cli(redis_server, "XADD", A, "4000-0", "message", "end")
        [end] = await follower.take(1)

    assert {r.id for r in first_batch.items} == {f"{A}/1000-0", f"{B}/1000-0"}
    assert first_batch.cursor == first.cursor
    assert [r.id for r in rest] == [f"{A}/1000-1", f"{B}/2000-0", f"{A}/3000-0"]
    assert end.id == f"{A}/4000-0"
    assert follower.seen.empty()


@pytest.mark.asyncio
async def test_expired_entries_are_skipped(redis_server: RedisServer, redis_url: str) -> None:
    now_ms = int(time.time() * 1000)
    async with following(redis_url, [A]) as follower, AsyncPublisher(redis_url) as pub:
        await pub.publish("too late", expires_at=now_ms - 60_000)
        await cli(redis_server, "XADD", A, "*", "message", "also late",
                  "expiresAt", "2001-01-01T00:00:00Z")
        await pub.publish("in time", expires_at=now_ms + 600_000)
        records = await follower.take(1)

    assert messages(records) == ["in time"]
    assert follower.reader.stats.expired == 2


async def add_range_entries(server: RedisServer) -> None:
    """A: 1000..4000, B: 1000..2500 with a malformed entry at 2200, C: 1500..5000."""
    for stream, entry_id in [(A, "1000-0"), (A, "2000-0"), (A, "3000-0"), (A, "4000-0"),
                             (B, "1000-0"), (B, "2000-0"), (B, "2200-0"), (B, "2500-0"),
                             (C, "1500-0"), (C, "2100-0"), (C, "5000-0")]:
        fields = ["type", "info"] if entry_id == "2200-0" else ["message", f"{stream}@{entry_id}"]
        assert await cli(server, "XADD", stream, entry_id, *fields) == entry_id


SINCE = Cursor({A: "1000-0", B: "2000-0"})  # C unnamed: read from its newest millisecond, 2000
UNTIL = Cursor({A: "3000-0", B: "2500-0", C: "2100-0"})
GAP = [f"{A}/2000-0", f"{C}/2100-0", f"{B}/2500-0", f"{A}/3000-0"]


@pytest.mark.asyncio
async def test_read_range_returns_exactly_what_lies_between_two_cursors(
        redis_server: RedisServer, redis_url: str) -> None:
    await add_range_entries(redis_server)
    client = async_client(redis_url)
    decoder = Decoder()

    page = await read_range(client, decoder, SINCE, UNTIL)
    empty = await read_range(client, Decoder(), UNTIL, UNTIL)
    await client.aclose()

    assert [r.id for r in page.items] == GAP
    assert (page.more, page.cursor) == (False, UNTIL)
    assert decoder.stats.malformed == 1
    assert (empty.items, empty.more, empty.cursor) == ([], False, UNTIL)


@pytest.mark.asyncio
async def test_read_range_pages_through_the_gap_without_loss_or_repeats(
        redis_server: RedisServer, redis_url: str) -> None:
    await add_range_entries(redis_server)
    client = async_client(redis_url)
    pages: list[Page] = []
    since = SINCE

    while not pages or pages[-1].more:
        pages.append(await read_range(client, Decoder(), since, UNTIL, count=2))
        since = pages[-1].cursor
        assert len(pages) < 10, "paging does not end"
    await client.aclose()

    assert [r.id for page in pages for r in page.items] == GAP
    assert all(len(page.items) <= 2 for page in pages)
    assert pages[-1].cursor == UNTIL


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_resume_after_restart_loses_nothing(redis_server: RedisServer,
                                                  redis_url: str) -> None:
    async with AsyncPublisher(redis_url, retry_for=20) as pub, \
            following(redis_url, [A], block_ms=3_000) as follower:
        for i in range(3):
            await pub.publish(f"m{i}")
        before = await follower.take(3)
        await asyncio.sleep(0.2)  # let the reader block in XREAD again
        await asyncio.to_thread(redis_server.restart)
        for i in range(3, 6):
            await pub.publish(f"m{i}")
        after = await follower.take(3, timeout=20)
        await pub.publish("end")
        [end] = await follower.take(1)

    records = [*before, *after, end]
    assert messages(records) == ["m0", "m1", "m2", "m3", "m4", "m5", "end"]
    assert len({r.id for r in records}) == len(records)
    assert follower.seen.empty()
    assert follower.reader.stats.reconnects > 0
    assert follower.reader.stats.connected
    assert await cli(redis_server, "XLEN", A) == "7"  # the AOF kept what came before the crash


@pytest.mark.asyncio
async def test_a_key_of_the_wrong_type_stalls_nothing_and_reading_resumes_once_fixed(
        redis_server: RedisServer, redis_url: str) -> None:
    async with following(redis_url, [A, C]) as follower:
        await cli(redis_server, "DEL", C)
        await cli(redis_server, "SET", C, "not a stream")
        for _ in range(50):  # the next XREAD, once the blocked one returns, is refused
            if follower.reader.stats.last_error:
                break
            await asyncio.sleep(0.1)
        assert "WRONGTYPE" in str(follower.reader.stats.last_error)
        await cli(redis_server, "DEL", C)
        await cli(redis_server, "XADD", A, "*", "message", "after the fix")
        [record] = await follower.take(1, timeout=10)

    assert record.notification.message == "after the fix"


@pytest.mark.asyncio
async def test_a_backlog_bigger_than_one_read_comes_out_in_order_across_streams(
        redis_server: RedisServer, redis_url: str) -> None:
    for ms in range(1, 13):
        await cli(redis_server, "XADD", A, f"{ms}-0", "message", f"a{ms}")
    await cli(redis_server, "XADD", B, "7-1", "message", "b7")  # between a7 and a8

    start = Cursor({A: "0-0", B: "0-0"})
    async with following(redis_url, [A, B], start, count=5) as follower:
        records = await follower.take(13)

    assert messages(records) == [f"a{ms}" for ms in range(1, 8)] + ["b7"] + [
        f"a{ms}" for ms in range(8, 13)]


@pytest.mark.asyncio
async def test_memory_broker_wakes_a_blocked_read(memory_url: str) -> None:
    async with following(memory_url, [A], block_ms=10_000) as follower:
        await asyncio.sleep(0.1)  # the reader is now blocked for up to 10 s
        started = time.monotonic()
        async with AsyncPublisher(memory_url) as pub:
            await pub.publish("wake up")
        [record] = await follower.take(1, timeout=2)
        woke_after = time.monotonic() - started

    assert record.notification.message == "wake up"
    assert woke_after < 2


@pytest.mark.asyncio
async def test_cancelling_the_consumer_right_after_a_batch_stops_the_reader(
        redis_url: str) -> None:
    client = async_client(redis_url)
    await client.xadd(A, {"message": "m"})
    for _ in range(5):
        reader = StreamReader(client, [A], Cursor({}), block_ms=300)
        delivered = asyncio.Event()

        async def consume(reader: StreamReader = reader, delivered: asyncio.Event = delivered,
                          ) -> None:
            async for _batch in reader.batches():
                delivered.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(delivered.wait(), 5)
        task.cancel()  # lands while the reader sends its next XREAD
        await stopped(task, reader.block_ms)
    await client.aclose()


@pytest.mark.asyncio
async def test_reader_works_over_resp3(redis_server: RedisServer, redis_url: str) -> None:
    async with following(f"{redis_url}?protocol=3", [A, C]) as follower, \
            AsyncPublisher(redis_url) as pub:
        await cli(redis_server, "XADD", A, "*", "message", "flat")
        await pub.publish("packed", users=["ada"])
        records = await follower.take(2)

    assert messages(records) == ["flat", "packed"]
    assert follower.reader.cursor == Cursor({A: records[0].entry_id, C: records[1].entry_id})


class SwallowingClient:
    """A real client whose XREAD behaves as redis-py's can on Python 3.11: a cancel landing
    during the call is swallowed, and the call then fails as a lost connection would, as does
    every later one (Redis went away meanwhile)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def xread(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        if self.reads == 1:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(60)
        raise ConnectionError("connection lost")


@pytest.mark.asyncio
async def test_a_swallowed_cancel_followed_by_failed_reads_still_stops_the_reader(
        redis_url: str) -> None:
    client = async_client(redis_url)
    swallowing = SwallowingClient(client)
    reader = StreamReader(swallowing, [A], Cursor({}), block_ms=300)  # type: ignore[arg-type]

    async def consume() -> None:
        async for _batch in reader.batches():
            pass

    task = asyncio.create_task(consume())
    while swallowing.reads == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    await stopped(task, reader.block_ms)
    assert task.cancelled()
    assert swallowing.reads == 1  # no retry after the cancel
    await client.aclose()
