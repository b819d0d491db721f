"""One stream reader per server process, fanned out to every open JupyterLab tab.

Each batch the reader yields is encoded to JSON once and queued, as the same string, on every
subscription. A subscription's queue is bounded: a tab that does not keep up is told to go
(``Subscription.overflowed``) and comes back later with its cursor, while the others never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio

from jln_broker.protocol import Cursor, Delivered, entry_id_key
from jln_broker.reader import Batch, Decoder, StreamReader, read_range

log = logging.getLogger("jln.fanout")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Piece:
    """Notifications encoded once: the JSON of the items, and the cursor after them."""

    items_json: str
    cursor: str
    count: int

    @classmethod
    def of(cls, items: Sequence[Delivered], cursor: Cursor) -> Piece:
        text = ",".join(json.dumps(d.to_dict(), separators=(",", ":")) for d in items)
        return cls(text, cursor.encode(), len(items))


def frame(pieces: Sequence[Piece]) -> str:
    """One WebSocket frame carrying every waiting piece, with the cursor after the last."""
    items = ",".join(p.items_json for p in pieces if p.count)
    return (f'{{"type":"notifications","cursor":"{pieces[-1].cursor}",'
            f'"serverTime":{now_ms()},"notifications":[{items}]}}')


class Subscription:
    """One connection's bounded queue of pieces.

    ``ahead`` holds the client's cursor while it is ahead of the reader on some stream (it came
    from a server further along): until the reader catches up, what it already saw is filtered
    out for it alone.
    """

    def __init__(self, limit: int, ahead: Cursor | None = None) -> None:
        self.limit = limit
        self.ahead = ahead
        self.overflowed = False
        self.closed = False
        self._pieces: deque[Piece] = deque()
        self._wake = asyncio.Event()
        self._gone = asyncio.Event()

    def offer(self, piece: Piece, batch: Batch) -> None:
        if self.overflowed or self.closed:
            return
        if self.ahead is not None:
            piece = self._unseen(batch)
        if len(self._pieces) >= self.limit:
            self.overflowed = True
            self._gone.set()
        else:
            self._pieces.append(piece)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._gone.set()
        self._wake.set()

    async def gone(self) -> None:
        """Returns once this subscription has overflowed or been closed."""
        await self._gone.wait()

    async def next(self) -> list[Piece]:
        """Everything waiting (at least one piece), or [] once overflowed or closed."""
        while not self._pieces and not (self.overflowed or self.closed):
            self._wake.clear()
            await self._wake.wait()
        if self.overflowed or self.closed:
            return []
        pieces = list(self._pieces)
        self._pieces.clear()
        return pieces

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


def is_ahead(cursor: Cursor, other: Cursor, streams: Iterable[str]) -> bool:
    """Whether ``cursor`` is past ``other`` on any of ``streams``."""
    return any(entry_id_key(cursor.position(s)) > entry_id_key(other.position(s))
               for s in streams)


class Fanout:
    """Runs the reader and hands every batch to every subscription."""

    def __init__(self, client: redis.asyncio.Redis, streams: Sequence[str], decoder: Decoder,
                 *, queue_limit: int = 1000, block_ms: int = 5000) -> None:
        self.client = client
        self.decoder = decoder
        self.queue_limit = queue_limit
        self.reader = StreamReader(client, streams, decoder=decoder, block_ms=block_ms)
        self.subscriptions: set[Subscription] = set()
        self.slow_clients = 0
        self._cursor: Cursor | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._following = asyncio.Lock()  # one reader swap at a time, or two readers run

    @property
    def streams(self) -> list[str]:
        return self.reader.streams

    @property
    def cursor(self) -> Cursor | None:
        """The position after the last batch handed out (None until Redis first answered)."""
        return self._cursor

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jln-fanout")

    async def stop(self) -> None:
        await self._halt()
        for sub in list(self.subscriptions):
            sub.close()
        await self.client.aclose()

    async def follow(self, streams: Sequence[str]) -> None:
        """Read ``streams`` from now on (a user's groups, learnt from a request), carrying on
        from the current cursor so nothing already read is read again."""
        async with self._following:
            if set(streams) == set(self.streams):
                return
            await self._halt()
            self.reader = StreamReader(self.client, streams, self._cursor, decoder=self.decoder,
                                       block_ms=self.reader.block_ms)
            log.info("now reading %s", ", ".join(streams))
            self.start()

    async def _halt(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def subscribe(self, since: Cursor | None) -> tuple[Subscription, Cursor]:
        """Register a connection and return it with the position its replay must reach.

        Registering and taking the position happen with no ``await`` between them, so every
        later batch lies after that position: replay up to it, then live, has no gap and no
        duplicate.
        """
        await self._ready.wait()
        assert self._cursor is not None
        until = self._cursor
        ahead = since if since and is_ahead(since, until, self.streams) else None
        sub = Subscription(self.queue_limit, ahead)
        self.subscriptions.add(sub)
        return sub, until

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)
        if sub.overflowed:
            self.slow_clients += 1

    async def replay(self, since: Cursor, until: Cursor, *, page: int = 500
                     ) -> AsyncIterator[Piece]:
        """What a client missed between its cursor and ``until``, page by page, oldest first."""
        more = True
        while more:
            result = await read_range(self.client, self.decoder, since, until, count=page)
            since, more = result.cursor, result.more
            if result.items or not more:
                yield Piece.of(result.items, result.cursor)

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
        self._cursor = await self.reader.start()
        self._ready.set()  # only the first start matters; later ones find it set
        async for batch in self.reader.batches():
            self._cursor = batch.cursor
            piece = Piece.of(batch.items, batch.cursor)
            for sub in self.subscriptions:
                sub.offer(piece, batch)
