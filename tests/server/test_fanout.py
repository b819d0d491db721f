"""The fan-out on its own, over the embedded broker: what keeps every tab served."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from jln_broker import AsyncPublisher
from jln_broker.connection import async_client
from jln_broker.history import History
from jln_broker.protocol import StreamNames
from jln_broker.reader import Batch, Decoder, StreamReader
from jln_server.fanout import Fanout
from jln_server.wire import Piece

STREAM = "jln:broadcast"


def fanout_on(url: str) -> Fanout:
    history = History(async_client(url), StreamNames(), "ada", Decoder(keep_expired=True))
    return Fanout(history, [STREAM], block_ms=200)


@pytest.mark.asyncio
async def test_a_failing_reader_is_restarted_and_nothing_is_lost(
        memory_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    fanout = fanout_on(memory_url)
    real_batches = StreamReader.batches
    failures = iter([RuntimeError("a bug in the reader")])

    async def fails_once(reader: StreamReader) -> AsyncIterator[Batch]:
        for error in failures:
            raise error
        async for batch in real_batches(reader):
            yield batch

    monkeypatch.setattr(StreamReader, "batches", fails_once)
    fanout.start()
    sub, _ = await asyncio.wait_for(fanout.subscribe(None), 5)
    async with AsyncPublisher(memory_url) as publisher:
        await publisher.publish("still delivered")
        pieces = await asyncio.wait_for(sub.next(), 10)
    await fanout.stop()

    assert isinstance(pieces[0], Piece)
    assert '"message":"still delivered"' in pieces[0].items_json
    assert "restarting it" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.asyncio
async def test_following_new_groups_from_two_requests_at_once_leaves_one_reader(
        memory_url: str) -> None:
    fanout = fanout_on(memory_url)
    fanout.start()
    sub, _ = await asyncio.wait_for(fanout.subscribe(None), 5)

    await asyncio.gather(fanout.follow([STREAM, "jln:group:a"]),
                         fanout.follow([STREAM, "jln:group:a", "jln:group:b"]))
    async with AsyncPublisher(memory_url) as publisher:
        await publisher.publish("once")
        pieces = await asyncio.wait_for(sub.next(), 10)
        await asyncio.sleep(0.5)  # a second reader would deliver it again by now
        pieces += sub._queue
    readers = [t for t in asyncio.all_tasks() if t.get_name() == "jln-fanout" and not t.done()]
    await fanout.stop()

    assert sum(p.count for p in pieces if isinstance(p, Piece)) == 1
    assert len(readers) == 1


def test_a_client_cursor_naming_a_stream_not_read_here_stops_being_ahead_once_caught_up(
        ) -> None:
    from jln_broker.protocol import Cursor
    from jln_server.fanout import Subscription

    client = Cursor({STREAM: "5-0", "jln:group:elsewhere": "9-0"})
    sub = Subscription(10, ahead=client)
    batch = Batch([], Cursor({STREAM: "6-0"}))

    sub.offer(Piece.of(batch.items, batch.cursor), batch)

    assert sub.ahead is None  # else every later batch is re-encoded for this tab alone
