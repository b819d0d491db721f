"""One connection's bounded queue: what the fan-out hands a WebSocket client, waiting until
the client's socket takes it.

A client that does not keep up overflows its queue and is told to go (it comes back later
with its cursor), while the others never wait for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from jln_broker.protocol import Cursor, entry_id_key
from jln_broker.reader import Batch

from .wire import KeyOf, Piece

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
