"""The owner's streams, held in memory in two orders: by entry id per stream (ranges after a
cursor) and by the time each notification reached the inbox (pages, newest N).

Entries never change once written, so holding them is only a cache of Redis: it is rebuilt from
the streams at start and follows them through the fan-out's reader. The timeline also keeps the
release clock for scheduled notifications (``notBefore``): those are pushed when they fall due,
not when they are written.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..protocol import Cursor, Delivered, entry_id_key
from ..reader import Page

Order = tuple[int, int, int, str]
"""How the inbox sorts: (reached the inbox ms, entry ms, entry seq, stream)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One notification of the owner's streams, with what sorting and searching need."""

    delivered: Delivered
    order: Order
    text: str  # title and message, case-folded once for search
    id: str  # ``Delivered.id``, made once: every read, saved and dismissed test looks it up

    @classmethod
    def of(cls, delivered: Delivered) -> Entry:
        ms, seq = entry_id_key(delivered.entry_id)
        n = delivered.notification
        at = max(ms, n.not_before or 0)  # a scheduled one arrives when it falls due
        return cls(delivered, (at, ms, seq, delivered.stream),
                   f"{n.title or ''}\n{n.message}".casefold(), delivered.id)

    @property
    def at(self) -> int:
        return self.order[0]

    @property
    def id_key(self) -> tuple[int, int]:
        return self.order[1], self.order[2]


def _id_key(entry: Entry) -> tuple[int, int]:
    return entry.order[1], entry.order[2]


class Timeline:
    """Every entry of the streams being read, for one user."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.released_until = 0
        """Scheduled notifications due up to this moment (ms) have been released."""
        self.changes = 0
        """Counts additions and removals, so views can cache on it."""
        self._reordered = 0  # ``changes`` when an entry last went anywhere but the newest end
        self._streams: dict[str, list[Entry]] = {}
        self._ordered: list[Entry] = []
        self._by_id: dict[str, Entry] = {}
        self._scheduled: list[Entry] = []
        self._pending: list[tuple[int, Order, Entry]] = []  # a heap by notBefore
        self._lost: dict[str, tuple[int, int]] = {}  # stream -> newest id Redis may have lost

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, notification_id: str) -> Entry | None:
        return self._by_id.get(notification_id)

    def appended_since(self, changes: int) -> list[Entry] | None:
        """The entries added since ``changes``, if every one went to the newest end and none
        was removed (what live traffic does); None otherwise."""
        if changes < self._reordered:
            return None
        return self._ordered[len(self._ordered) - (self.changes - changes):]

    def newest_first(self) -> Iterator[Entry]:
        return reversed(self._ordered)

    def oldest_first(self) -> Iterator[Entry]:
        return iter(self._ordered)

    def pushable(self, entry: Entry, now: int) -> bool:
        """Whether the owner's tabs may be shown it: not excluded, not expired."""
        n = entry.delivered.notification
        return not n.excludes(self.user) and not n.expired(now)

    def add(self, items: Iterable[Delivered], now: int) -> list[Delivered]:
        """Take what the reader read; return what to push now (scheduled ones that fell due
        first, then the new ones that are due). An entry already held (a stream re-read from an
        earlier moment after a group was joined) is pushed but not held twice."""
        out = self.release(now)
        for delivered in items:
            entry = self._by_id.get(delivered.id) or self._insert(Entry.of(delivered))
            if not self.pushable(entry, now):
                continue
            if delivered.notification.due(self.released_until):
                out.append(delivered)
        return out

    def load(self, items: Iterable[Delivered], now: int) -> None:
        """History read at start: held, not pushed (clients resume by cursor); only what is
        still scheduled after ``now`` will be released."""
        self.released_until = max(self.released_until, now)
        for delivered in items:
            if delivered.id not in self._by_id:
                self._insert(Entry.of(delivered))

    def release(self, now: int) -> list[Delivered]:
        """Scheduled notifications that fell due by ``now``, in due order."""
        out = []
        while self._pending and self._pending[0][0] <= now:
            _, _, entry = heapq.heappop(self._pending)
            if entry.id in self._by_id and self.pushable(entry, now):
                out.append(entry.delivered)
        self.released_until = max(self.released_until, now)
        return out

    def next_release(self) -> int | None:
        """When the next scheduled notification falls due (ms), if any waits."""
        return self._pending[0][0] if self._pending else None

    def after(self, since: Cursor, until: Cursor, limit: int, now: int) -> Page:
        """What a client resuming from ``since`` is owed, up to ``until``, oldest first: the
        entries after its positions that are due, and, on the first page, scheduled ones behind
        its positions that fell due after its cursor was issued."""
        release_at = self.released_until if until.at is None else until.at
        streams = list(until.positions)
        found: list[Entry] = []
        for stream in streams:
            held = self._streams.get(stream, [])
            lo = bisect_right(held, entry_id_key(since.position(stream)), key=_id_key)
            hi = bisect_right(held, entry_id_key(until.positions[stream]), key=_id_key)
            # The first ``limit`` of all lie in the first ``limit`` of each stream; one more
            # says whether there are more. A long replay's pages then cost a page each.
            found.extend(held[lo:min(hi, lo + limit + 1)])
        found.sort(key=lambda e: (e.id_key, e.delivered.stream))
        taken, more = found[:limit], len(found) > limit
        cursor = since.restricted(streams)
        for entry in {e.delivered.stream: e for e in taken}.values():  # the last of each
            cursor = cursor.advanced(entry.delivered.stream, entry.delivered.entry_id)
        if not more:
            for stream, position in until.positions.items():
                cursor = cursor.advanced(stream, position)
        late = [e for e in self._scheduled if since.moment < e.at <= release_at
                and e.id_key <= entry_id_key(since.position(e.delivered.stream))
                and e.delivered.stream in until.positions]
        items = [e.delivered for e in (*late, *taken) if self.pushable(e, now)
                 and e.delivered.notification.due(release_at)]
        return Page(items, cursor.issued(release_at), more)

    def newest(self, limit: int, until: Cursor, now: int) -> Page:
        """The newest ``limit`` notifications that are due, up to ``until``, oldest first."""
        found: list[Delivered] = []
        for entry in self.newest_first():
            if len(found) == limit:
                break
            stream = entry.delivered.stream
            if (stream in until.positions
                    and entry.id_key <= entry_id_key(until.positions[stream])
                    and entry.at <= self.released_until and self.pushable(entry, now)):
                found.append(entry.delivered)
        return Page(found[::-1], until.issued(self.released_until), False)

    def drop_before(self, stream: str, oldest_kept: str | None, asked_at: str | None) -> int:
        """Forget the entries Redis no longer holds: those of ``stream`` before
        ``oldest_kept`` (all of them when it is None), of those held when Redis was asked
        (up to ``asked_at``, the newest then, or none): what was read since came after the
        answer. Returns how many went."""
        held = self._streams.get(stream, [])
        if asked_at is None:
            return 0
        cut = bisect_right(held, entry_id_key(asked_at), key=_id_key)
        if oldest_kept is not None:
            cut = min(cut, bisect_left(held, entry_id_key(oldest_kept), key=_id_key))
        if cut:
            self.lost(stream, held[cut - 1].delivered.entry_id)
            self._forget(held[:cut])
            del held[:cut]
        return cut

    def drop_stream(self, stream: str) -> None:
        """Forget a stream no longer read (a group left), or to be read again from its start."""
        self._forget(self._streams.pop(stream, []))
        self._lost.pop(stream, None)

    def lost(self, stream: str, removed_through: str) -> None:
        """Note that entries of ``stream`` up to ``removed_through`` may be gone for good."""
        key = entry_id_key(removed_through)
        if key > self._lost.get(stream, (0, 0)):
            self._lost[stream] = key

    def lost_after(self, stream: str, position: str) -> bool:
        """Whether a client at ``position`` on ``stream`` has missed entries for good."""
        return self._lost.get(stream, (0, 0)) > entry_id_key(position)

    def last_held(self, stream: str) -> str | None:
        """The newest entry of ``stream`` held, if any."""
        held = self._streams.get(stream)
        return held[-1].delivered.entry_id if held else None

    def oldest(self, stream: str) -> str | None:
        """The oldest entry of ``stream`` held, if any."""
        held = self._streams.get(stream)
        return held[0].delivered.entry_id if held else None

    def _insert(self, entry: Entry) -> Entry:
        self._by_id[entry.id] = entry
        held = self._streams.setdefault(entry.delivered.stream, [])
        if held and _id_key(entry) < _id_key(held[-1]):
            insort(held, entry, key=_id_key)
        else:  # the usual case, read in order: no search
            held.append(entry)
        if self._ordered and entry.order < self._ordered[-1].order:
            insort(self._ordered, entry, key=lambda e: e.order)
            self._reordered = self.changes + 1
        else:
            self._ordered.append(entry)
        not_before = entry.delivered.notification.not_before
        if not_before is not None:
            self._scheduled.append(entry)
            if not_before > self.released_until:
                heapq.heappush(self._pending, (not_before, entry.order, entry))
        self.changes += 1
        return entry

    def _forget(self, entries: list[Entry]) -> None:
        if not entries:
            return
        gone = {e.id for e in entries}
        for notification_id in gone:
            del self._by_id[notification_id]
        self._ordered = [e for e in self._ordered if e.id not in gone]
        self._scheduled = [e for e in self._scheduled if e.id not in gone]
        self.changes += 1
        self._reordered = self.changes

