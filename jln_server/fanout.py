"""One stream reader per server process, fanned out to every open JupyterLab tab.

Each batch the reader yields goes into the owner's history first, which says what to push now
(scheduled notifications wait there until they fall due), and is then encoded once, to one
WebSocket frame, and handed to every subscription: written as the same bytes to every tab whose
socket is free, queued for the others. A subscription's queue is bounded: a tab that does not
keep up is told to go (``Subscription.overflowed``) and comes back later with its cursor, while
the others never wait.

A notification with a key that a later one with the same key and origin supersedes before it is
sent is not sent (the browser would only replace it in place): within a batch, once for every
tab; across batches, per tab, only while that tab is behind. The cursor still moves past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jln_broker.errors import BrokerUnavailable
from jln_broker.history import Gap, History
from jln_broker.integrity import StreamsReset
from jln_broker.protocol import Cursor, Delivered
from jln_broker.reader import Batch, ReaderStats, StreamReader

from . import frames, wire
from .subscription import Subscription, is_ahead
from .wire import Piece, key_of

log = logging.getLogger("jln.fanout")

FOLLOW_LOAD_SECONDS = 2.0
"""How long a group joined waits for its history before it is read live without it."""


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
        self.items = wire.ItemCache()  # replays to many tabs share each notification's JSON
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
        """The connection has closed, or is closing: hold nothing more for it."""
        self.subscriptions.discard(sub)
        sub.detach()
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
                yield Piece.of(result.items, result.cursor, self.history.marks,
                               self.items.item_json)

    def tell_all(self, frame: str) -> None:
        """Send a frame to every tab (a state change), behind what each has waiting."""
        encoded = frames.text(frame)
        for sub in tuple(self.subscriptions):  # one cut off leaves the set
            sub.put(frame, encoded)

    async def _halt(self, tasks: Sequence[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
            # wait(), not await: awaiting it and suppressing its CancelledError would also
            # swallow a cancel of the caller (a follow() being stopped) arriving meanwhile.
            await asyncio.wait([task])

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
        for sub in tuple(self.subscriptions):  # one cut off leaves the set
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
        if not due or not self.subscriptions:  # nothing to show yet, or no tab to show it to
            return
        batch = Batch(latest_of_each_key(due), self.cursor or positions)
        piece = Piece.of(batch.items, batch.cursor)
        frame = frames.text(wire.notifications_frame([piece]))  # once, for every tab
        for sub in tuple(self.subscriptions):  # one cut off leaves the set
            sub.offer(piece, batch, frame)


def latest_of_each_key(delivered: list[Delivered]) -> list[Delivered]:
    """``delivered`` without what a later one in it supersedes (same key and origin)."""
    latest = {key: i for i, d in enumerate(delivered) if (key := key_of(d)) is not None}
    if not latest:
        return delivered
    return [d for i, d in enumerate(delivered)
            if (key := key_of(d)) is None or latest[key] == i]
