"""The fan-out on its own, over the embedded broker: what keeps every tab served."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from jln_broker import AsyncPublisher
from jln_broker.connection import async_client
from jln_broker.history import History
from jln_broker.model import Notification
from jln_broker.protocol import Cursor, Delivered, StreamNames, entry_id_key
from jln_broker.reader import Batch, Decoder, StreamReader
from jln_server import frames
from jln_server.fanout import Fanout
from jln_server.subscription import Queued, Subscription, texts
from jln_server.wire import Piece

STREAM = "jln:broadcast"


def fanout_on(url: str, queue_limit: int = 1000) -> Fanout:
    history = History(async_client(url), StreamNames(), "ada", Decoder(keep_expired=True))
    return Fanout(history, [STREAM], queue_limit=queue_limit, block_ms=200)


async def queued_on(sub: Subscription, timeout: float = 10) -> list[Queued]:
    """What a subscription not yet live holds, once it holds something."""
    async def taken() -> list[Queued]:
        while not (queued := sub.take()):
            await asyncio.sleep(0.01)
        return queued

    return await asyncio.wait_for(taken(), timeout)


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
        pieces = await queued_on(sub)
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
        pieces = await queued_on(sub)
        await asyncio.sleep(0.5)  # a second reader would deliver it again by now
        pieces += sub.take()
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


def update(n: int, key: str | None = "build", pad: int = 0) -> Piece:
    """Notification ``n`` (message ``m<n>``, ``pad`` more characters) as a piece."""
    delivered = Delivered(STREAM, f"{n}-0", Notification(f"m{n}" + "x" * pad, key=key))
    return Piece.of([delivered], Cursor({STREAM: f"{n}-0"}))


def sent(queued: list[Queued]) -> tuple[list[dict[str, Any]], list[str]]:
    """The notifications a tab would receive from what was queued, and the frames' cursors."""
    frames = [f for text in texts(queued) if (f := json.loads(text))["type"] == "notifications"]
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
    queued = behind.take()
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
    notifications, _ = sent(behind.take())
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
        _, cursors = sent(behind.take())
        [later] = await publisher.publish("after the reconnect")
        await asyncio.wait_for(handed_out(fanout, later), 10)
    until = fanout.cursor
    assert until is not None
    replayed = list(fanout.replay(Cursor.decode(cursors[-1]), until))
    await fanout.stop()

    notifications, _ = sent(list(replayed))
    assert [n["message"] for n in notifications] == ["after the reconnect"]


def test_a_newer_update_queued_behind_a_state_frame_supersedes_the_older_one() -> None:
    sub = Subscription(10)
    for item in (update(1), update(2, key=None), '{"type":"state"}', update(3),
                 update(4, key="other")):
        sub.put(item)

    notifications, cursors = sent(sub.take())
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
    first = sub.take()
    sub.sending_bytes = sum(p.size for p in first if isinstance(p, Piece))

    for n in range(2, 100):
        sub.put(piece(n, 1000))
        if sub.overflowed:
            break
    fit = 10_000 // piece(2, 1000).size
    assert sub.overflowed and n == 2 + fit  # as many as fit in 10,000 bytes, not one more
    assert sub.queued_bytes == 0 and sub.held == sub.sending_bytes  # the queue was let go
    assert sub.take() == []


# --- live: written at once, or queued behind what the socket still holds ---------------------

@dataclass
class FakeLink:
    """A connection whose socket takes ``takes`` bytes of each write and holds the rest."""

    takes: int = 2**30
    writes: list[bytes] = field(default_factory=list)
    ended: list[bool] = field(default_factory=list)

    def send(self, frame: bytes) -> int:
        self.writes.append(frame)
        return max(0, len(frame) - self.takes)

    def end(self, overflowed: bool) -> None:
        self.ended.append(overflowed)


def texts_of(data: bytes) -> list[str]:
    """The text frames in ``data``, read as a client reads them (RFC 6455, unmasked)."""
    out, at = [], 0
    while at < len(data):
        assert data[at] == 0x81  # final text frame
        size, at = data[at + 1], at + 2
        if size == 126:
            size, at = int.from_bytes(data[at:at + 2], "big"), at + 2
        elif size == 127:
            size, at = int.from_bytes(data[at:at + 8], "big"), at + 8
        out.append(data[at:at + size].decode())
        at += size
    return out


@pytest.mark.parametrize("size", [10, 1000, 70_000])
def test_a_frame_is_read_back_whole_at_each_length_encoding(size: int) -> None:
    text = json.dumps({"type": "x", "pad": "é" * size})
    assert texts_of(frames.text(text)) == [text]


def test_a_live_tab_is_written_the_shared_frame_at_once_and_queues_while_its_socket_is_busy(
        ) -> None:
    link = FakeLink(takes=0)  # the socket holds every write until told it has gone
    sub = Subscription(10)
    sub.put(update(1))  # before going live: queued
    sub.attach(link)
    assert len(link.writes) == 1 and sub.sending_bytes > 0

    shared = frames.text('{"type":"state"}')
    sub.put('{"type":"state"}', shared)
    sub.put(update(2))
    sub.put(update(3))  # supersedes 2 while it waits
    assert len(link.writes) == 1  # the socket is busy: they queue

    link.takes = 2**30
    sub.sent()
    assert sub.sending_bytes == 0 and sub.take() == []
    written = [json.loads(t) for t in texts_of(b"".join(link.writes))]
    assert [f["type"] for f in written] == ["notifications", "state", "notifications"]
    assert [n["message"] for f in written for n in f.get("notifications", ())] == ["m1", "m3"]

    sub.put('{"type":"state"}', shared)  # nothing waits now: the very same bytes go at once
    assert link.writes[-1] is shared


def test_a_live_tab_that_stops_reading_is_ended_at_its_bound_and_a_closed_one_is_not_written(
        ) -> None:
    link = FakeLink(takes=0)
    sub = Subscription(1000, limit_bytes=10_000)
    sub.attach(link)
    for n in range(100):
        sub.put(update(n, key=None, pad=1000))
    assert sub.overflowed and link.ended == [True] and sub.queued_bytes == 0

    closing = Subscription(10)
    closing.attach(link)
    closing.close()
    closing.put(update(1))
    assert link.ended == [True, False] and len(link.writes) == 1
