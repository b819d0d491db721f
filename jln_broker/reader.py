"""Reading: follow a set of streams from a cursor with ``XREAD BLOCK``, surviving Redis restarts.

Plain ``XREAD`` with our own last ids, not a consumer group: every Jupyter server needs every
message of its streams, and a group would split them between servers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .backoff import REFUSED, RETRYABLE, Backoff, honour_swallowed_cancel
from .connection import AsyncClient
from .integrity import StreamsReset, epoch_of, regressed, stream_facts
from .model import DEFAULT_LIMITS, Limits, Notification
from .protocol import PAYLOAD_FIELD, Cursor, Delivered, decode_entry, entry_id_key

log = logging.getLogger("jln.reader")

Entries = Sequence[tuple[bytes, dict[bytes, bytes]]]


@dataclass
class ReaderStats:
    """Counters a status endpoint can show."""

    delivered: int = 0
    malformed: int = 0
    expired: int = 0
    reconnects: int = 0
    connected: bool = False
    last_error: str | None = None
    last_read_at: float | None = None  # time.time() of the last answer from Redis
    resets: int = 0  # streams found trimmed away, recreated or of a new epoch
    on_change: Callable[[ReaderStats], None] | None = field(default=None, repr=False)
    """Called when the broker is lost or found again (the server tells its tabs)."""

    def up(self) -> None:
        self.last_read_at = time.time()
        self._set(True, self.last_error)

    def down(self, err: BaseException) -> None:
        self._set(False, str(err))

    def as_dict(self) -> dict[str, Any]:
        """camelCase, like every other JSON the server answers with."""
        return {_camel(name): value for name, value in self.__dict__.items()
                if name != "on_change"}

    def _set(self, connected: bool, error: str | None) -> None:
        # A reason that changes while down (refused, then timed out...) is no news.
        changed = connected != self.connected or (not connected and self.last_error is None)
        self.connected, self.last_error = connected, error
        if changed and self.on_change is not None:
            self.on_change(self)


KNOWN_LIMIT = 10_000
"""Notifications a decoder keeps for ``expect`` at most; when full, it forgets them all."""
_PAYLOAD_KEY = PAYLOAD_FIELD.encode()


@dataclass
class Decoder:
    """Turns raw entries into ``Delivered`` records, skipping (and counting) malformed ones: a
    bad entry must never stop or stall a reader. Expired ones are skipped too unless
    ``keep_expired`` (history keeps them: an expired notification still supersedes older ones
    with its key).

    A process that reads what it publishes (a Jupyter server taking notifications through its
    REST ingest) has validated each one already: ``expect`` hands it over, and the entry
    holding exactly its msgpack bytes is not unpacked and validated again."""

    limits: Limits = DEFAULT_LIMITS
    stats: ReaderStats = field(default_factory=ReaderStats)
    keep_expired: bool = False
    _known: dict[bytes, Notification] = field(default_factory=dict, repr=False)

    def expect(self, notification: Notification) -> None:
        """``notification`` (validated under this decoder's limits) is about to be written in
        the publisher's form: take it as it is when read. Its audience is not in the entry,
        so it is left out here too."""
        if len(self._known) >= KNOWN_LIMIT:  # written where this reader does not look
            self._known.clear()
        self._known[notification.packed] = replace(notification, users=(), groups=())

    def decode(self, stream: str, entries: Entries, now_ms: int) -> list[Delivered]:
        out = []
        known = self._known
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            try:
                payload = fields.get(_PAYLOAD_KEY) if len(fields) == 1 else None
                notification = known.pop(payload, None) if payload else None
                if notification is None:
                    notification = decode_entry(fields, self.limits)
            except Exception as err:  # anyone who can XADD can write anything: never stop
                self.stats.malformed += 1
                log.warning("skipping malformed entry %s in stream %s: %s", entry_id, stream, err)
                continue
            if not self.keep_expired and notification.expired(now_ms):
                self.stats.expired += 1
                continue
            out.append(Delivered(stream, entry_id, notification))
        return out


async def current_cursor(client: AsyncClient, streams: Sequence[str]) -> Cursor:
    """A cursor at the newest entry of each stream (``0-0`` for one that does not exist yet),
    so "new only" is an exact position rather than ``$``, which would lose entries between
    two reads."""
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xrevrange(stream, count=1)
    newest = await pipe.execute()
    return Cursor({stream: (_text(entries[0][0]) if entries else "0-0")
                   for stream, entries in zip(streams, newest, strict=True)})


@dataclass(frozen=True)
class Page:
    """Part of a range of entries, and the cursor to ask for the next part with."""

    items: list[Delivered]
    cursor: Cursor
    more: bool


async def read_range(client: AsyncClient, decoder: Decoder, since: Cursor, until: Cursor,
                     *, count: int = 500) -> Page:
    """The oldest ``count`` entries after ``since`` and up to ``until``, across ``until``'s
    streams: what a reconnecting client or a poll missed. Page through with ``Page.cursor``
    until ``more`` is false; the last page's cursor is never behind ``until``."""
    streams = list(until.positions)
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xrange(stream, min=f"({since.position(stream)}", max=until.positions[stream],
                    count=count)
    replies = await pipe.execute()
    found = sorted(((entry_id_key(_text(raw_id)), stream, (raw_id, fields))
                    for stream, entries in zip(streams, replies, strict=True)
                    for raw_id, fields in entries), key=lambda t: t[0])
    more = len(found) > count or any(len(entries) == count for entries in replies)
    taken = found[:count]
    cursor = since.restricted(streams)
    for _, stream, (raw_id, _) in taken:
        cursor = cursor.advanced(stream, _text(raw_id))
    if not more:
        for stream, position in until.positions.items():
            cursor = cursor.advanced(stream, position)
    now_ms = int(time.time() * 1000)
    items = [d for _, stream, entry in taken for d in decoder.decode(stream, [entry], now_ms)]
    return Page(items, cursor, more)


@dataclass(frozen=True)
class Batch:
    """What one read brought, and the reader's cursor just after it."""

    items: list[Delivered]
    cursor: Cursor


class StreamReader:
    """Yields batches of notifications from ``streams``, in entry-id order within a batch,
    resuming after the last entry it yielded across reconnects: no loss, no duplicates.

    ``cursor=None`` starts at the streams' current ends (new notifications only).

    With ``epoch`` (the epoch key and the value the cursor belongs to) every read also reads
    the epoch, and every ``check_every`` seconds the streams' facts are checked: a changed
    epoch, or a stream whose ids went back behind the cursor (deleted and written again),
    raises ``StreamsReset`` rather than wait, silently, for ids that will not come.
    """

    def __init__(self, client: AsyncClient, streams: Sequence[str],
                 cursor: Cursor | None = None, *, decoder: Decoder | None = None,
                 block_ms: int = 5000, count: int = 500,
                 epoch: tuple[str, str] | None = None, check_every: float = 2.0) -> None:
        self.client = client
        self.streams = list(streams)
        self.decoder = decoder or Decoder()
        self.block_ms = block_ms
        self.count = count
        self.epoch = epoch
        self.check_every = check_every
        self._cursor = cursor.restricted(self.streams) if cursor else None
        self._checked = time.monotonic()

    @property
    def stats(self) -> ReaderStats:
        return self.decoder.stats

    @property
    def cursor(self) -> Cursor | None:
        """The position after the last entry yielded (None before the first successful read)."""
        return self._cursor

    async def start(self) -> Cursor:
        """Fix the starting position (retrying until Redis answers) and return it."""
        backoff = Backoff(cap=5.0)
        while self._cursor is None:
            try:
                self._cursor = await current_cursor(self.client, self.streams)
                self.stats.up()
            except (*RETRYABLE, *REFUSED) as err:
                await self._down(err, backoff)
        return self._cursor

    async def batches(self) -> AsyncIterator[Batch]:
        """The endless sequence of non-empty batches; cancel the consuming task to stop."""
        cursor = await self.start()
        backoff = Backoff(cap=5.0)
        while True:
            try:
                reply, epoch = await self._read(cursor)
                self.stats.up()
                backoff.reset()
                if self.epoch is not None and epoch != self.epoch[1]:
                    # Read after the entries: they belong to the new epoch, not the cursor's.
                    raise StreamsReset(self.streams, epoch,
                                       "the streams' epoch changed" if epoch else
                                       "the streams' epoch is gone (Redis lost its data)")
                if time.monotonic() - self._checked >= self.check_every:
                    await self._check(cursor)
            except (*RETRYABLE, *REFUSED) as err:
                await self._down(err, backoff)
                continue
            honour_swallowed_cancel()
            batch, cursor = self._consume(reply, cursor)
            self._cursor = cursor
            if batch:
                self.stats.delivered += len(batch)
                yield Batch(batch, cursor)

    async def _read(self, cursor: Cursor) -> tuple[Any, str | None]:
        """One ``XREAD BLOCK``, and the epoch read just after it in the same round trip."""
        positions: dict[Any, Any] = dict(cursor.positions)
        if self.epoch is None:
            return await self.client.xread(positions, count=self.count, block=self.block_ms), None
        pipe = self.client.pipeline(transaction=False)
        pipe.xread(positions, count=self.count, block=self.block_ms)
        pipe.get(self.epoch[0])
        reply, epoch = await pipe.execute()
        return reply, epoch_of(epoch)

    async def _check(self, cursor: Cursor) -> None:
        self._checked = time.monotonic()
        if self.epoch is not None and (back := regressed(
                await stream_facts(self.client, self.streams), cursor)):
            raise StreamsReset(back, self.epoch[1],
                               f"{', '.join(back)} went back behind the reader: deleted or "
                               "written again")

    def _consume(self, reply: Any, cursor: Cursor) -> tuple[list[Delivered], Cursor]:
        """Decode a reply and move the cursor past every entry it keeps, malformed ones included.

        A stream that filled its COUNT may still have entries waiting that are older than
        another stream's newest: whatever lies past the earliest such cut is left for the next
        read, so notifications come out in entry-id order across streams, not only within one.
        """
        replied = [(_text(s), entries) for s, entries in _stream_items(reply) if entries]
        cut = min((entry_id_key(_text(entries[-1][0])) for _, entries in replied
                   if len(entries) >= self.count), default=None)
        now_ms = int(time.time() * 1000)
        batch: list[Delivered] = []
        for stream, entries in replied:
            kept = entries if cut is None else [
                e for e in entries if entry_id_key(_text(e[0])) <= cut]
            if kept:
                cursor = cursor.advanced(stream, _text(kept[-1][0]))
                batch.extend(self.decoder.decode(stream, kept, now_ms))
        batch.sort(key=lambda d: entry_id_key(d.entry_id))
        return batch, cursor

    async def _down(self, err: BaseException, backoff: Backoff) -> None:
        honour_swallowed_cancel()  # a failed read after a cancel, too: else it retries forever
        if self.stats.connected or backoff.attempts == 0:
            log.warning("lost the broker (%s); reconnecting", err)
        self.stats.down(err)
        self.stats.reconnects += 1
        await asyncio.sleep(backoff.next_delay(err))


def _stream_items(reply: Any) -> list[tuple[Any, Entries]]:
    """XREAD answers a list of pairs (RESP2) or a dict (RESP3), whose values redis-py wraps in
    one more list (``{stream: [[entry, ...]]}``); accept all of them."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(s, e[0] if e and isinstance(e[0], list) else e) for s, e in reply.items()]
    return [(s, e) for s, e in reply]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
