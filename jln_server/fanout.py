"""One stream reader per server process, fanned out to every open JupyterLab tab.

Each batch the reader yields goes into the owner's history first, which says what to push now
(scheduled notifications wait there until they fall due), and is then encoded to JSON once and
queued, as the same string, on every subscription. A subscription's queue is bounded: a tab
that does not keep up is told to go (``Subscription.overflowed``) and comes back later with its
cursor, while the others never wait.

A notification with a key that a later one with the same key and origin supersedes before it is
sent is not sent (the browser would only replace it in place): within a batch, once for every
tab; across batches, per tab, only while that tab is behind. The cursor still moves past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jln_broker.errors import BrokerUnavailable
from jln_broker.history import Gap, History
from jln_broker.integrity import StreamsReset
from jln_broker.protocol import Cursor, Delivered, entry_id_key
from jln_broker.reader import Batch, ReaderStats, StreamReader

from . import wire
from .wire import KeyOf, Piece, key_of

log = logging.getLogger("jln.fanout")

FOLLOW_LOAD_SECONDS = 2.0
"""How long a group joined waits for its history before it is read live without it."""

Queued = Piece | str
"""A piece of notifications, or a whole frame of another kind (a state change)."""


class Subscription:
    """One connection's bounded queue: at most ``limit`` frames and about ``limit_bytes`` of
    them (one frame may always wait, however large, so a big replay page never cuts off a
    client that keeps up). Past either, it has overflowed: the queue is let go at once, and
    the connection closes.

    ``ahead`` holds the client's cursor while it is ahead of the reader on some stream (it came
    from a server further along): until the reader catches up, what it already saw is filtered
    out for it alone.

    While pieces wait, the place of the latest one of each (origin, key) is kept, so a newer
    piece marks what it supersedes without a pass over the queue; the marked items are left out
    when the queue is taken.
    """

    def __init__(self, limit: int, ahead: Cursor | None = None, *,
                 limit_bytes: int = 2**62) -> None:
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.ahead = ahead
        self.overflowed = False
        self.closed = False
        self.queued_bytes = 0
        self.sending_bytes = 0
        """The size of the frame being written to the client (set by the connection)."""
        self._queue: deque[Queued] = deque()
        self._latest: dict[KeyOf, tuple[int, int]] = {}  # key -> (place in queue, item)
        self._superseded: dict[int, set[int]] = {}  # place in queue -> items not to send
        self._wake = asyncio.Event()
        self._gone = asyncio.Event()

    def offer(self, piece: Piece, batch: Batch) -> None:
        if self.ahead is not None:
            piece = self._unseen(batch)
        self.put(piece)

    def put(self, queued: Queued) -> None:
        if self.overflowed or self.closed:
            return
        if isinstance(queued, Piece):
            self._supersede(queued)
        size = _size(queued)
        if self._queue and (len(self._queue) >= self.limit
                            or self.queued_bytes + size > self.limit_bytes):
            self._overflow()
        else:
            if isinstance(queued, Piece):
                place = len(self._queue)
                for index, key in queued.keyed:
                    self._latest[key] = (place, index)
            self._queue.append(queued)
            self.queued_bytes += size
        self._wake.set()

    @property
    def held(self) -> int:
        """Bytes held for this client: what waits, and the frame on its way."""
        return self.queued_bytes + self.sending_bytes

    def _overflow(self) -> None:
        self.overflowed = True
        self._queue.clear()  # a client cut off reconnects with its cursor: hold nothing
        self._latest.clear()
        self._superseded.clear()
        self.queued_bytes = 0
        self._gone.set()

    def _supersede(self, piece: Piece) -> None:
        """Mark the queued items ``piece`` supersedes, then drop the pieces at the tail left
        with nothing to send: ``piece``'s cursor is past theirs, so one key's flood of
        updates holds a single place in the queue."""
        for _, key in piece.keyed:
            if (earlier := self._latest.get(key)) is not None:
                self._superseded.setdefault(earlier[0], set()).add(earlier[1])
        queue = self._queue
        while queue and isinstance(tail := queue[-1], Piece):
            place = len(queue) - 1
            if tail.count > len(self._superseded.get(place, ())):
                break
            queue.pop()
            self.queued_bytes -= tail.size
            self._superseded.pop(place, None)

    def close(self) -> None:
        self.closed = True
        self._gone.set()
        self._wake.set()

    async def gone(self) -> None:
        """Returns once this subscription has overflowed or been closed."""
        await self._gone.wait()

    async def next(self) -> list[Queued]:
        """Everything waiting (at least one), or [] once overflowed or closed."""
        while not self._queue and not (self.overflowed or self.closed):
            self._wake.clear()
            await self._wake.wait()
        if self.overflowed or self.closed:
            return []
        queued = list(self._queue)
        self._queue.clear()
        self.queued_bytes = 0
        for place, dropped in self._superseded.items():
            piece = queued[place]
            assert isinstance(piece, Piece)
            queued[place] = piece.without(dropped)
        self._superseded.clear()
        self._latest.clear()
        return queued

    def _unseen(self, batch: Batch) -> Piece:
        ahead = self.ahead
        assert ahead is not None
        fresh = [d for d in batch.items
                 if entry_id_key(d.entry_id) > entry_id_key(ahead.position(d.stream))]
        cursor = batch.cursor
        for stream, position in ahead.positions.items():
            cursor = cursor.advanced(stream, position)
        if not is_ahead(ahead, batch.cursor, batch.cursor.positions):  # the streams read here
            self.ahead = None  # the reader has caught up with this client
        return Piece.of(fresh, cursor)


def _size(queued: Queued) -> int:
    return queued.size if isinstance(queued, Piece) else len(queued)


def is_ahead(cursor: Cursor, other: Cursor, streams: Iterable[str]) -> bool:
    """Whether ``cursor`` is past ``other`` on any of ``streams``."""
    return any(entry_id_key(cursor.position(s)) > entry_id_key(other.position(s))
               for s in streams)


@dataclass(frozen=True)
class Subscribed:
    """A connection registered: its queue, where its replay starts (its cursor, or the start of
    what it can still be given), where the replay ends, and what it missed for good."""

    sub: Subscription
    since: Cursor | None
    until: Cursor
    gaps: dict[str, Gap]


class Fanout:
    """Runs the reader and the release of scheduled notifications, and hands what is due to
    every subscription.

    Should Redis lose what the reader followed (a new epoch, a stream deleted and written
    again), the streams are read again from their start and every tab is told of the gap and
    given what the streams hold now.
    """

    def __init__(self, history: History, streams: Sequence[str], *, queue_limit: int = 1000,
                 queue_bytes: int = 256 * 1024, block_ms: int = 5000) -> None:
        self.history = history
        self.client = history.client
        self.decoder = history.decoder
        self.queue_limit = queue_limit
        self.queue_bytes = queue_bytes
        self.block_ms = block_ms
        self.reader = StreamReader(self.client, streams, decoder=self.decoder,
                                   block_ms=block_ms)
        self.subscriptions: set[Subscription] = set()
        self.slow_clients = 0
        self._positions: Cursor | None = None
        self._ready = asyncio.Event()
        self._rescheduled = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._following = asyncio.Lock()  # one reader swap at a time, or two readers run

    @property
    def streams(self) -> list[str]:
        return self.reader.streams

    @property
    def cursor(self) -> Cursor | None:
        """The position after the last batch handed out, issued at the release clock (None
        until the streams are loaded)."""
        if self._positions is None:
            return None
        return self._positions.issued(self.history.timeline.released_until, self.history.epoch)

    @property
    def loaded(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        self.decoder.stats.on_change = self._broker_changed
        self._tasks = [asyncio.create_task(self._run(), name="jln-fanout"),
                       asyncio.create_task(self._release_when_due(), name="jln-release")]

    async def stop(self) -> None:
        await self._halt(self._tasks)
        for sub in list(self.subscriptions):
            sub.close()
        await self.client.aclose()

    async def follow(self, streams: Sequence[str]) -> None:
        """Read ``streams`` from now on (a user's groups, learnt from a request). A stream
        joined is read from the current cursor's moment, so what arrived since reaches the open
        tabs; a stream left is forgotten."""
        async with self._following:
            if set(streams) == set(self.streams):
                return
            running = bool(self._tasks)
            if running:
                await self._halt(self._tasks[:1])
            positions = None
            if self._positions is not None:  # else the first load reads them all
                try:
                    await self.history.load(streams, retry_for=FOLLOW_LOAD_SECONDS)
                except BrokerUnavailable as err:  # live delivery must not wait for the past
                    log.warning("could not load the history of %s (%s); reading them live",
                                ", ".join(streams), err)
                positions = self._positions.restricted(streams)
            self.reader = self._reader(streams, positions)
            log.info("now reading %s", ", ".join(streams))
            if running:
                self._tasks[0] = asyncio.create_task(self._run(), name="jln-fanout")

    async def subscribe(self, since: Cursor | None) -> Subscribed:
        """Register a connection (once the streams are loaded) and return it with where its
        replay starts and ends.

        Registering and taking the end happen with no ``await`` between them, so every later
        batch lies after that position: replay up to it, then live, has no gap and no
        duplicate.
        """
        await self.ready()
        gaps: dict[str, Gap] = {}
        if since is not None:
            assert self.cursor is not None
            resumed = await self.history.resume(since, self.cursor)
            since, gaps = resumed.since, resumed.gaps
        until = self.cursor
        assert until is not None
        ahead = since if since and is_ahead(since, until, self.streams) else None
        sub = Subscription(self.queue_limit, ahead, limit_bytes=self.queue_bytes)
        self.subscriptions.add(sub)
        return Subscribed(sub, since, until, gaps)

    async def ready(self, timeout: float | None = None) -> None:
        """Returns once the owner's streams are loaded; past ``timeout`` seconds, raises
        ``BrokerUnavailable`` saying why they are not."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            reason = self.decoder.stats.last_error or "still loading"
            raise BrokerUnavailable(f"the notification history is not loaded ({reason})"
                                    ) from None

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)
        if sub.overflowed:
            self.slow_clients += 1

    def replay(self, since: Cursor, until: Cursor, *, page: int = 500) -> Iterable[Piece]:
        """What a client missed between its cursor and ``until``, page by page, oldest first,
        with the owner's read state."""
        more = True
        while more:
            result = self.history.after(since, until, page)
            since, more = result.cursor, result.more
            if result.items or not more:
                yield Piece.of(result.items, result.cursor, self.history.marks)

    def tell_all(self, frame: str) -> None:
        """Queue a frame for every tab (a state change), behind what each has waiting."""
        for sub in self.subscriptions:
            sub.put(frame)

    async def _halt(self, tasks: Sequence[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        """Pump batches to subscribers; should the pump ever fail, say so and carry on from the
        reader's cursor rather than leave every tab waiting in silence."""
        while True:
            try:
                await self._pump()
            except Exception:
                log.exception("the notification reader failed; restarting it in 1 s")
                await asyncio.sleep(1)

    async def _pump(self) -> None:
        if self._positions is None:
            loaded = await self.history.load(self.streams)
            self.reader = self._reader(self.streams, loaded)
            self._positions = loaded
            self._ready.set()
            self._rescheduled.set()
        while True:
            try:
                async for batch in self.reader.batches():
                    scheduled = self.history.timeline.next_release()
                    self._hand_out(self.history.add(batch.items), batch.cursor)
                    if self.history.timeline.next_release() != scheduled:
                        self._rescheduled.set()  # the release timer must wake earlier
            except StreamsReset as reset:
                await self._start_again(reset)

    def _reader(self, streams: Sequence[str], positions: Cursor | None) -> StreamReader:
        epoch = None if self.history.epoch is None else (
            self.history.names.epoch, self.history.epoch)
        return StreamReader(self.client, streams, positions, decoder=self.decoder,
                            block_ms=self.block_ms, epoch=epoch)

    async def _start_again(self, reset: StreamsReset) -> None:
        """Read the streams Redis lost again from their start, tell every tab what it missed
        for good, and give it what the streams hold now."""
        assert self._positions is not None
        old = self._positions
        new_epoch = reset.epoch != self.history.epoch
        streams = self.streams if new_epoch else reset.streams
        log.warning("%s: reading %s again from the start", reset.why, ", ".join(streams))
        loaded = await self.history.reload(streams, new_epoch=new_epoch)
        self._positions = Cursor({**old.positions, **loaded.positions})
        self.reader = self._reader(self.streams, self._positions)
        self.decoder.stats.resets += 1
        now = self.cursor
        assert now is not None
        gaps = {s: Gap(old.position(s), self.history.timeline.oldest(s)) for s in streams
                if old.position(s) != "0-0"}  # a stream that held nothing lost nothing
        start = Cursor({**now.positions, **dict.fromkeys(streams, "0-0")}, None, now.epoch)
        pieces = list(self.replay(start, now))
        for sub in self.subscriptions:
            sub.ahead = None
            if gaps:
                sub.put(wire.gap_frame(gaps))
            for piece in pieces:
                sub.put(piece)

    def _broker_changed(self, stats: ReaderStats) -> None:
        self.tell_all(wire.broker_frame(stats))

    async def _release_when_due(self) -> None:
        """Push scheduled notifications as they fall due: the server wakes for them, no
        client needs to ask."""
        while True:
            due = self.history.timeline.next_release()
            wait = None if due is None else max(0.0, (due - time.time() * 1000) / 1000)
            self._rescheduled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rescheduled.wait(), wait)
            if self._positions is not None:
                self._hand_out(self.history.release(), self._positions)

    def _hand_out(self, due: list[Delivered], positions: Cursor) -> None:
        self._positions = positions
        if not due:  # only scheduled ones came: nothing to show yet
            return
        batch = Batch(latest_of_each_key(due), self.cursor or positions)
        piece = Piece.of(batch.items, batch.cursor)
        for sub in self.subscriptions:
            sub.offer(piece, batch)


def latest_of_each_key(delivered: list[Delivered]) -> list[Delivered]:
    """``delivered`` without what a later one in it supersedes (same key and origin)."""
    latest = {key: i for i, d in enumerate(delivered) if (key := key_of(d)) is not None}
    if not latest:
        return delivered
    return [d for i, d in enumerate(delivered)
            if (key := key_of(d)) is None or latest[key] == i]
