"""One connection's bounded queue: what the fan-out hands a WebSocket client, written to the
client's socket at once when nothing waits before it, queued until the socket takes it when
something does.

A client that does not keep up overflows its queue and is told to go (it comes back later
with its cursor), while the others never wait for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from jln_broker.protocol import Cursor, entry_id_key
from jln_broker.reader import Batch

from . import frames
from .wire import KeyOf, Piece, notifications_frame

Queued = Piece | str
"""A piece of notifications, or a whole frame of another kind (a state change)."""


class Link(Protocol):
    """The connection a live subscription writes to."""

    def send(self, frame: bytes) -> int:
        """Write ``frame`` (WebSocket frames) after everything written before; return how many
        of its bytes wait in the connection's buffer (0 once the kernel took them all), and
        once those have gone, call ``Subscription.sent``."""

    def end(self, overflowed: bool) -> None:
        """Close the connection: the client is too slow (``overflowed``), or the server is
        shutting down."""


class Subscription:
    """One connection's bounded queue: at most ``limit`` frames and about ``limit_bytes`` of
    them (one frame may always wait, however large, so a big replay page never cuts off a
    client that keeps up). Past either, it has overflowed: the queue is let go at once, and
    the connection closes.

    Until ``attach`` (while the connection replays what its client missed) everything queues.
    From then on, whatever comes while nothing waits and the connection's buffer is empty is
    written at once, as the frame the fan-out encoded for every client: no task, future or
    object of this client's own per delivery, which, for hundreds of clients, is what paused
    deliveries for garbage collections. What comes while the client's socket is still taking
    an earlier frame queues, and goes out in one write once that has gone (``sent``).

    ``ahead`` holds the client's cursor while it is ahead of the reader on some stream (it came
    from a server further along): until the reader catches up, what it already saw is filtered
    out for it alone.

    While pieces wait, the place of the latest one of each (origin, key) is kept, so a newer
    piece marks what it supersedes without a pass over the queue; the marked items are left out
    when the queue is taken.
    """

    __slots__ = ("_latest", "_link", "_queue", "_superseded", "ahead", "closed", "limit",
                 "limit_bytes", "overflowed", "queued_bytes", "sending_bytes")

    def __init__(self, limit: int, ahead: Cursor | None = None, *,
                 limit_bytes: int = 2**62) -> None:
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.ahead = ahead
        self.overflowed = False
        self.closed = False
        self.queued_bytes = 0
        self.sending_bytes = 0
        """The bytes written to the client that its connection still holds."""
        self._link: Link | None = None
        self._queue: list[Queued] = []  # a list: an empty deque costs ~600 bytes per client
        self._latest: dict[KeyOf, tuple[int, int]] = {}  # key -> (place in queue, item)
        self._superseded: dict[int, set[int]] = {}  # place in queue -> items not to send

    def offer(self, piece: Piece, batch: Batch, frame: bytes | None = None) -> None:
        """Hand over a batch's ``piece``; ``frame`` is its frame, encoded once for all."""
        if self.ahead is not None:
            piece, frame = self._unseen(batch), None
        self.put(piece, frame)

    def put(self, queued: Queued, frame: bytes | None = None) -> None:
        """Send ``queued`` (``frame``, if given, is its frame alone) at once if nothing waits
        before it, or queue it."""
        if self.overflowed or self.closed:
            return
        if self._link is not None and not self._queue and not self.sending_bytes:
            self._send(frame or frames.text(_text(queued)))
            return
        if isinstance(queued, Piece):
            self._supersede(queued)
        size = _size(queued)
        if self._queue and (len(self._queue) >= self.limit
                            or self.queued_bytes + size > self.limit_bytes):
            self._overflow()
            return
        if isinstance(queued, Piece):
            place = len(self._queue)
            for index, key in queued.keyed:
                self._latest[key] = (place, index)
        self._queue.append(queued)
        self.queued_bytes += size

    def attach(self, link: Link) -> None:
        """Go live on ``link``: what queued meanwhile goes first."""
        self._link = link
        if self.overflowed:
            link.end(overflowed=True)
        elif self._queue:
            self.sent()

    def sent(self) -> None:
        """The connection has written what it held: send what queued meanwhile, in one
        write."""
        self.sending_bytes = 0
        if self._queue and not (self.overflowed or self.closed):
            self._send(b"".join(map(frames.text, texts(self.take()))))

    @property
    def held(self) -> int:
        """Bytes held for this client: what waits, and what is on its way."""
        return self.queued_bytes + self.sending_bytes

    def _send(self, frame: bytes) -> None:
        assert self._link is not None
        self.sending_bytes = self._link.send(frame)

    def _overflow(self) -> None:
        self.overflowed = True
        self._let_go()
        if self._link is not None:
            self._link.end(overflowed=True)

    def _let_go(self) -> None:
        self._queue.clear()  # a client cut off reconnects with its cursor: hold nothing
        self._latest.clear()
        self._superseded.clear()
        self.queued_bytes = 0

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
        """The server is shutting down: close the connection."""
        self.detach()
        if self._link is not None:
            self._link.end(overflowed=False)

    def detach(self) -> None:
        """The connection has closed: hold nothing more for it."""
        self.closed = True
        self._let_go()

    def take(self) -> list[Queued]:
        """Everything waiting, less what a later piece superseded; the queue is left empty."""
        queued, self._queue = self._queue, []
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


def _text(queued: Queued) -> str:
    return notifications_frame([queued]) if isinstance(queued, Piece) else queued


def texts(queued: list[Queued]) -> list[str]:
    """What ``take`` gave, as the texts of frames: runs of pieces become one notifications
    frame each; other frames go as they are, in the order they were queued."""
    out: list[str] = []
    run: list[Piece] = []
    for item in queued:
        if isinstance(item, Piece):
            run.append(item)
            continue
        if run:
            out.append(notifications_frame(run))
            run = []
        out.append(item)
    if run:
        out.append(notifications_frame(run))
    return out


def is_ahead(cursor: Cursor, other: Cursor, streams: Iterable[str]) -> bool:
    """Whether ``cursor`` is past ``other`` on any of ``streams``."""
    return any(entry_id_key(cursor.position(s)) > entry_id_key(other.position(s))
               for s in streams)
