"""``History``: everything a server reads back about its owner's notifications, in one place.

The fan-out hands it each batch the reader brings and replays from it; the poll fallback and the
inbox endpoints ask it for ranges, pages, counts and state changes. It loads the owner's streams
and state from Redis at start, then follows them; the streams stay the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace

from ..backoff import REFUSED, RETRYABLE, Backoff
from ..connection import AsyncClient
from ..errors import Conflict
from ..integrity import ensure_epoch, stream_facts
from ..protocol import Cursor, Delivered, StreamNames, entry_id_key
from ..reader import Decoder, Page, current_cursor, read_range
from .state import FRESH, Change, InboxState, Marks
from .timeline import Entry, Timeline
from .view import NO_FILTERS, Filters, InboxPage, InboxView, PageCursor

LOAD_PAGE = 1000

log = logging.getLogger("jln.history")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class StateChange:
    """What a state request did: the ids it changed (or all under some filters), the change,
    and the unread count after it; what every tab of the user is told."""

    ids: list[str]
    all: bool
    change: Change
    unread: int


@dataclass(frozen=True)
class Gap:
    """Notifications a client resuming ``after`` a position will never see: Redis no longer
    holds them (trimmed, deleted, or of an earlier epoch). ``resumed_at`` is the oldest entry
    kept (None: the stream holds none)."""

    after: str
    resumed_at: str | None


@dataclass(frozen=True)
class Resume:
    """Where a client's cursor really resumes, and what it missed for good on the way."""

    since: Cursor
    gaps: dict[str, Gap]


class History:
    """The owner's streams and inbox state, loaded from Redis and kept up to date."""

    def __init__(self, client: AsyncClient, names: StreamNames, user: str,
                 decoder: Decoder) -> None:
        self.client = client
        self.names = names
        self.user = user
        self.decoder = decoder
        self.timeline = Timeline(user)
        self.state = InboxState(names, user)
        self.view = InboxView(self.timeline, self.state, names.scope)
        self.streams: list[str] = []
        self.epoch: str | None = None
        """The streams' epoch (``integrity.ensure_epoch``), known once loaded."""

    # --- loading ---------------------------------------------------------------------------

    async def load(self, streams: Sequence[str], *, retry_for: float | None = None) -> Cursor:
        """Read the streams of ``streams`` not read yet whole (forgetting those no longer in
        it) and the owner's state, retrying until Redis answers; return where each newly read
        stream ends, for the live reader to carry on from. Past ``retry_for`` seconds (None:
        never), raises ``BrokerUnavailable``."""
        backoff = Backoff(cap=5.0, give_up_after=retry_for)
        while True:
            try:
                return await self._load(streams)
            except (*RETRYABLE, *REFUSED) as err:
                if backoff.attempts == 0:
                    log.warning("cannot load the notification history yet (%s); retrying", err)
                self.decoder.stats.down(err)
                await asyncio.sleep(backoff.next_delay(err))

    async def reload(self, streams: Sequence[str], *, new_epoch: bool) -> Cursor:
        """Read ``streams`` again from their start: Redis no longer holds what was read (a new
        epoch, or streams deleted and written again). The owner's history of them starts at
        their start: whatever is there was sent while they were reading."""
        for stream in streams:
            self.timeline.drop_stream(stream)
        kept = self.streams
        self.streams = [s for s in kept if s not in streams]
        if new_epoch:
            self.epoch = None
        loaded = await self.load(kept)
        # A new epoch took the joined marks with it (or, the epoch key alone rewritten, the
        # marks stand); a stream written again in this epoch restarts its mark.
        await self.state.join(self.client, {s: "0-0" for s in loaded.positions
                                            if self.names.scope(s) != "user"},
                              restart=not new_epoch)
        stale = {i for i in self.state.ids() if self.timeline.get(i) is None}
        await self.state.forget(self.client, stale)
        return loaded

    async def _load(self, streams: Sequence[str]) -> Cursor:
        if self.epoch is None:
            self.epoch = await ensure_epoch(self.client, self.names.epoch)
            if self.epoch is None:
                log.warning("%s is absent and may not be written: reading without an epoch, "
                            "so a Redis that loses its data is not noticed", self.names.epoch)
        new = [s for s in streams if s not in self.streams]
        until = await current_cursor(self.client, new)
        now = now_ms()
        async for items in self._read_whole(until):
            self.timeline.load(items, now)
        for stream, facts in (await stream_facts(self.client, new)).items():
            self.timeline.lost(stream, facts.removed_through)
        for stream in set(self.streams) - set(streams):
            self.timeline.drop_stream(stream)
        shared = {s: p for s, p in until.positions.items() if self.names.scope(s) != "user"}
        await self._register(shared)
        await self.state.load(self.client)
        await self.state.join(self.client, shared)
        self.streams = list(streams)
        self.decoder.stats.up()
        return until

    async def _read_whole(self, until: Cursor) -> AsyncIterator[list[Delivered]]:
        since = Cursor({s: "0-0" for s in until.positions})
        more = bool(until.positions)
        while more:
            page = await read_range(self.client, self.decoder, since, until, count=LOAD_PAGE)
            since, more = page.cursor, page.more
            yield page.items

    async def _register(self, shared: dict[str, str]) -> None:
        """Say that this user reads these shared streams: read receipts count them as
        targeted."""
        if shared:
            pipe = self.client.pipeline(transaction=False)
            for stream in shared:
                pipe.sadd(self.names.readers(stream), self.user)
            await pipe.execute()

    # --- what the fan-out and the poll ask -------------------------------------------------

    async def resume(self, since: Cursor, until: Cursor) -> Resume:
        """Where a client resuming from ``since`` picks up, given the live position ``until``.

        A cursor of another epoch starts again at the start of this one. A position the stream
        never reached (the stream was recreated, or the cursor came from another Redis without
        an epoch) starts that stream again, rather than hide from this client everything up to
        that id. Each is a gap, like a position behind what was trimmed away."""
        streams = list(until.positions)
        if since.epoch is not None and since.epoch != self.epoch:
            return Resume(Cursor.start(streams, self.epoch),
                          {s: self._gap(s, since.positions[s]) for s in streams
                           if since.positions.get(s, "0-0") != "0-0"})
        gaps = {s: self._gap(s, p) for s in streams
                if self.timeline.lost_after(s, p := since.position(s))}
        ahead = [s for s in streams
                 if entry_id_key(since.position(s)) > entry_id_key(until.positions[s])]
        if ahead:
            with contextlib.suppress(*RETRYABLE, *REFUSED):  # unknown: trust the cursor
                for stream, facts in (await stream_facts(self.client, ahead)).items():
                    if facts.behind(position := since.position(stream)):
                        gaps[stream] = self._gap(stream, position)
                        since = since.moved(stream, "0-0")
        return Resume(since, gaps)

    def _gap(self, stream: str, after: str) -> Gap:
        return Gap(after, self.timeline.oldest(stream))

    def add(self, items: Iterable[Delivered]) -> list[Delivered]:
        """Take a batch the reader read; return what to push now."""
        return self.timeline.add(items, now_ms())

    def release(self) -> list[Delivered]:
        """Scheduled notifications that fell due since the last call."""
        return self.timeline.release(now_ms())

    def after(self, since: Cursor, until: Cursor, limit: int) -> Page:
        """What a client resuming from ``since`` is owed, up to ``until``, oldest first."""
        return self._stamped(self.timeline.after(since, until, limit, now_ms()))

    def newest(self, limit: int, until: Cursor) -> Page:
        return self._stamped(self.timeline.newest(limit, until, now_ms()))

    def _stamped(self, page: Page) -> Page:
        """The page with its cursor of the epoch read now (a cursor resumed from may have none,
        or an earlier one)."""
        cursor = Cursor(page.cursor.positions, page.cursor.at, self.epoch)
        return replace(page, cursor=cursor)

    def marks(self, delivered: Delivered) -> Marks:
        """Read, saved and read-at of a notification held here."""
        entry = self.timeline.get(delivered.id)
        return FRESH if entry is None else self.state.marks(entry)

    def unread_now(self) -> int:
        """The unread count as last known, without asking Redis (for a hello)."""
        return self.view.unread(now_ms())

    async def refresh(self) -> None:
        """Take up the state changes another server of the owner made, if Redis answers (else
        what is known stands: the poll and the socket also serve from memory)."""
        with contextlib.suppress(*RETRYABLE, *REFUSED):
            await self.state.refresh(self.client)

    # --- the inbox --------------------------------------------------------------------------

    async def page(self, filters: Filters, limit: int, cursor: PageCursor | None,
                   order: str = "newest") -> InboxPage:
        await self.state.refresh(self.client)
        return self.view.page(filters, limit, cursor, order, now_ms())

    async def count(self, filters: Filters) -> tuple[int, int]:
        """(unread, total)."""
        await self.state.refresh(self.client)
        return self.view.count(filters, now_ms())

    async def item(self, notification_id: str) -> Entry | None:
        """One notification, if it is in the owner's inbox."""
        await self.state.refresh(self.client)
        entry = self.timeline.get(notification_id)
        return entry if entry and self.view.contains(entry, now_ms()) else None

    async def topics(self) -> dict[str, list[dict[str, object]]]:
        await self.state.refresh(self.client)
        return self.view.topics(now_ms())

    async def change(self, ids: Sequence[str] | None, change: Change,
                     filters: Filters = NO_FILTERS) -> StateChange:
        """Apply ``change`` to ``ids`` (those in the inbox; others are ignored), or to every
        notification the filters admit when ``ids`` is None. Dismissing a pinned one by its
        id raises ``Conflict``; a mark-all leaves pinned ones undismissed and those that ask
        for an acknowledgement as they are read (``Change.taken_by``)."""
        await self.state.refresh(self.client)
        now = now_ms()
        if ids is None:
            entries = self.view.matching(filters, now)
        else:
            found = (self.timeline.get(i) for i in dict.fromkeys(ids))
            entries = [e for e in found if e is not None and self.view.contains(e, now)]
            _refuse_to_dismiss_pinned(entries, change)
        changed = await self.state.apply(self.client, entries, change, now,
                                         named=ids is not None)
        return StateChange(changed, ids is None, change, self.view.unread(now))

    # --- retention --------------------------------------------------------------------------

    async def sweep(self, retention_ms: int, max_length: int) -> int:
        """Trim the streams by age (exact ``MINID``: approximate trimming keeps whole nodes, so
        a quiet stream would never age) and length, forget what Redis no longer holds,
        and drop the owner's state for it. Returns how many entries went from memory."""
        now = now_ms()
        streams = list(self.streams)  # a group joined meanwhile waits for the next sweep
        asked_at = {s: self.timeline.last_held(s) for s in streams}
        pipe = self.client.pipeline(transaction=False)
        for stream in streams:
            pipe.xtrim(stream, minid=f"{max(0, now - retention_ms)}-0", approximate=False)
            pipe.xtrim(stream, maxlen=max_length, approximate=True)
            pipe.xrange(stream, count=1)
        replies = await pipe.execute()
        gone = 0
        for stream, oldest in zip(streams, replies[2::3], strict=True):
            gone += self.timeline.drop_before(stream, _text(oldest[0][0]) if oldest else None,
                                              asked_at[stream])
        stale = {i for i in self.state.ids() if self.timeline.get(i) is None}
        await self.state.forget(self.client, stale)
        return gone


def _refuse_to_dismiss_pinned(entries: Iterable[Entry], change: Change) -> None:
    if change.dismissed:
        for entry in entries:
            if entry.delivered.notification.pinned:
                raise Conflict("id", f"{entry.id!r} is pinned: it stays until it expires or a "
                                     "later notification with its key withdraws it")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
