"""The fan-out on its own, over the embedded broker: what keeps every tab served."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jln_broker import AsyncPublisher
from jln_broker.connection import async_client
from jln_broker.history import History
from jln_broker.model import Notification
from jln_broker.protocol import Cursor, Delivered, StreamNames, entry_id_key
from jln_broker.reader import Batch, Decoder, StreamReader
from jln_server.fanout import Fanout
from jln_server.handlers.socket import _frames
from jln_server.subscription import Queued, Subscription
from jln_server.wire import Piece

STREAM = "jln:broadcast"


def fanout_on(url: str, queue_limit: int = 1000) -> Fanout:
    history = History(async_client(url), StreamNames(), "ada", Decoder(keep_expired=True))
    return Fanout(history, [STREAM], queue_limit=queue_limit, block_ms=200)


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
    sub = (await asyncio.wait_for(fanout.subscribe(None), 5)).sub
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
    sub = (await asyncio.wait_for(fanout.subscribe(None), 5)).sub

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
    client = Cursor({STREAM: "5-0", "jln:group:elsewhere": "9-0"})
    sub = Subscription(10, ahead=client)
    batch = Batch([], Cursor({STREAM: "6-0"}))

    sub.offer(Piece.of(batch.items, batch.cursor), batch)

    assert sub.ahead is None  # else every later batch is re-encoded for this tab alone


# --- superseded updates of a key (issue 9) ---------------------------------------------------

async def handed_out(fanout: Fanout, published: str) -> None:
    """Returns once the fan-out has handed out everything up to ``published`` (an id)."""
    entry_id = published.removeprefix(f"{STREAM}/")
    while entry_id_key(fanout.cursor.position(STREAM) if fanout.cursor else "0-0"
                       ) < entry_id_key(entry_id):
        await asyncio.sleep(0.01)


def sent(queued: list[Queued]) -> tuple[list[dict[str, Any]], list[str]]:
    """The notifications a tab would receive from what was queued, and the frames' cursors."""
    frames = [f for text in _frames(queued) if (f := json.loads(text))["type"] == "notifications"]
    return [n for f in frames for n in f["notifications"]], [f["cursor"] for f in frames]


@pytest.mark.asyncio
async def test_a_tab_behind_gets_only_the_last_of_a_thousand_updates_of_one_key(
        memory_url: str) -> None:
    fanout = fanout_on(memory_url, queue_limit=10)
    fanout.start()
    behind = (await asyncio.wait_for(fanout.subscribe(None), 5)).sub
    async with AsyncPublisher(memory_url) as publisher:
        for i in range(1000):  # one by one: many batches, each queued behind the last
            [last] = await publisher.publish(f"step {i}", key="build", origin="ci")
        await asyncio.wait_for(handed_out(fanout, last), 10)
    queued = await behind.next()
    await fanout.stop()

    notifications, cursors = sent(queued)
    assert not behind.overflowed  # the flood held one place in its queue of ten
    assert len(queued) <= 2
    assert [n["message"] for n in notifications] == ["step 999"]
    assert f"{STREAM}/{Cursor.decode(cursors[-1]).position(STREAM)}" == last


@pytest.mark.asyncio
async def test_notifications_without_a_key_are_never_dropped(memory_url: str) -> None:
    fanout = fanout_on(memory_url)
    fanout.start()
    behind = (await asyncio.wait_for(fanout.subscribe(None), 5)).sub
    async with AsyncPublisher(memory_url) as publisher:
        for i in range(300):
            [last] = await publisher.publish(f"plain {i}")
            if i % 3 == 0:
                await publisher.publish(f"progress {i}", key="build")
        await asyncio.wait_for(handed_out(fanout, last), 10)
    notifications, _ = sent(await behind.next())
    await fanout.stop()

    messages = [n["message"] for n in notifications]
    assert [m for m in messages if m.startswith("plain")] == [f"plain {i}" for i in range(300)]
    assert [m for m in messages if m.startswith("progress")] == ["progress 297"]
    assert messages[-4:] == ["plain 297", "progress 297", "plain 298", "plain 299"]


@pytest.mark.asyncio
async def test_resuming_after_dropped_updates_replays_only_what_came_after(
        memory_url: str) -> None:
    fanout = fanout_on(memory_url)
    fanout.start()
    behind = (await asyncio.wait_for(fanout.subscribe(None), 5)).sub
    async with AsyncPublisher(memory_url) as publisher:
        for i in range(50):
            [last] = await publisher.publish(f"step {i}", key="build", origin="ci")
        await asyncio.wait_for(handed_out(fanout, last), 10)
        _, cursors = sent(await behind.next())
        [later] = await publisher.publish("after the reconnect")
        await asyncio.wait_for(handed_out(fanout, later), 10)
    until = fanout.cursor
    assert until is not None
    replayed = list(fanout.replay(Cursor.decode(cursors[-1]), until))
    await fanout.stop()

    notifications, _ = sent(list(replayed))
    assert [n["message"] for n in notifications] == ["after the reconnect"]


def test_a_newer_update_queued_behind_a_state_frame_supersedes_the_older_one() -> None:
    def update(n: int, key: str | None = "build") -> Piece:
        delivered = Delivered(STREAM, f"{n}-0", Notification(f"m{n}", key=key))
        return Piece.of([delivered], Cursor({STREAM: f"{n}-0"}))

    sub = Subscription(10)
    for item in (update(1), update(2, key=None), '{"type":"state"}', update(3),
                 update(4, key="other")):
        sub.put(item)

    notifications, cursors = sent(asyncio.run(sub.next()))
    assert [n["message"] for n in notifications] == ["m2", "m3", "m4"]
    assert Cursor.decode(cursors[-1]).position(STREAM) == "4-0"


def test_a_client_that_stops_reading_is_cut_off_at_its_byte_bound_and_holds_nothing_after(
        ) -> None:
    def piece(n: int, size: int) -> Piece:
        delivered = Delivered(STREAM, f"{n}-0", Notification("x" * size))
        return Piece.of([delivered], Cursor({STREAM: f"{n}-0"}))

    sub = Subscription(1000, limit_bytes=10_000)
    sub.put(piece(1, 50_000))  # larger than the bound, but alone: a big page is not slowness
    assert not sub.overflowed and sub.held >= 50_000
    first = asyncio.run(sub.next())
    sub.sending_bytes = sum(p.size for p in first if isinstance(p, Piece))

    for n in range(2, 100):
        sub.put(piece(n, 1000))
        if sub.overflowed:
            break
    fit = 10_000 // piece(2, 1000).size
    assert sub.overflowed and n == 2 + fit  # as many as fit in 10,000 bytes, not one more
    assert sub.queued_bytes == 0 and sub.held == sub.sending_bytes  # the queue was let go
    assert asyncio.run(sub.next()) == []
