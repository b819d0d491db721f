"""Every JSON shape the browser sees, in one place: WebSocket frames, REST answers, list items
and error bodies. ``labextension/src/model.ts`` mirrors this module; ``WIRE_VERSION`` (sent in
the hello) changes when a shape changes incompatibly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from jln_broker.history import FRESH, Gap, InboxPage, Marks, StateChange
from jln_broker.protocol import Cursor, Delivered
from jln_broker.reader import ReaderStats

WIRE_VERSION = 1

Json = dict[str, Any]
MarksOf = Callable[[Delivered], Marks]
KeyOf = tuple[str | None, str]
"""A keyed notification's (origin, key): the browser replaces one in place by a later one."""


def key_of(delivered: Delivered) -> KeyOf | None:
    n = delivered.notification
    return None if n.key is None else (n.origin, n.key)


def now_ms() -> int:
    return int(time.time() * 1000)


def item(delivered: Delivered, marks: Marks = FRESH) -> Json:
    """A notification as every list and frame carries it: the delivered record and the
    owner's read, saved and read-at."""
    return {**delivered.to_dict(), "read": marks.read, "saved": marks.saved,
            "readAt": marks.read_at}


def items(delivered: Iterable[Delivered], marks_of: MarksOf) -> list[Json]:
    return [item(d, marks_of(d)) for d in delivered]


def item_json(delivered: Delivered, marks: Marks) -> str:
    """``item`` as compact JSON."""
    return json.dumps(item(delivered, marks), separators=(",", ":"))


class ItemCache:
    """Each notification's JSON without the owner's marks, made once and kept for the next
    connection that replays it: after a restart every tab resumes at once, and encoding the
    same notifications again for each tab was most of the restarted server's work. Only
    read, saved and readAt are written per send. At most ``limit`` are kept; when full, all
    are dropped (they are made again as needed)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._bodies: dict[str, tuple[Delivered, str]] = {}

    def item_json(self, delivered: Delivered, marks: Marks) -> str:
        """What ``item_json`` makes, from the kept body."""
        kept = self._bodies.get(delivered.id)
        if kept is None or kept[0] is not delivered:  # a stream read again: a new record
            if len(self._bodies) >= self.limit:
                self._bodies.clear()
            body = json.dumps(delivered.to_dict(), separators=(",", ":"))[:-1]
            kept = self._bodies[delivered.id] = (delivered, body)
        read_at = "null" if marks.read_at is None else int(marks.read_at)
        return (f'{kept[1]},"read":{"true" if marks.read else "false"},'
                f'"saved":{"true" if marks.saved else "false"},"readAt":{read_at}}}')


@dataclass(frozen=True)
class Piece:
    """Notifications encoded once for every connection: each item's JSON, the cursor after
    them, and which items have a key (a later one with that key and origin supersedes them)."""

    parts: tuple[str, ...]
    cursor: str
    keyed: tuple[tuple[int, KeyOf], ...] = ()

    @classmethod
    def of(cls, delivered: Sequence[Delivered], cursor: Cursor,
           marks_of: MarksOf = lambda _: FRESH,
           encode: Callable[[Delivered, Marks], str] = item_json) -> Piece:
        parts = tuple(encode(d, marks_of(d)) for d in delivered)
        keyed = tuple((i, key) for i, d in enumerate(delivered)
                      if (key := key_of(d)) is not None)
        return cls(parts, cursor.encode(), keyed)

    @property
    def count(self) -> int:
        return len(self.parts)

    @cached_property
    def size(self) -> int:
        """About the bytes it takes in a frame (its items and cursor)."""
        return sum(map(len, self.parts)) + len(self.parts) + len(self.cursor)

    @cached_property
    def items_json(self) -> str:
        """The items as one JSON list body, joined once for every connection."""
        return ",".join(self.parts)

    def without(self, dropped: Collection[int]) -> Piece:
        """The items left to send once those at ``dropped`` are superseded; the same cursor."""
        return Piece(tuple(p for i, p in enumerate(self.parts) if i not in dropped),
                     self.cursor)


def notifications_frame(pieces: Sequence[Piece]) -> str:
    """One frame carrying every waiting piece, with the cursor after the last."""
    body = ",".join(p.items_json for p in pieces if p.count)
    return (f'{{"type":"notifications","cursor":"{pieces[-1].cursor}",'
            f'"serverTime":{now_ms()},"notifications":[{body}]}}')


def hello(cursor: Cursor | None, user: str, poll_interval: float, unread: int,
          broker: Json) -> Json:
    """The first frame of every connection: the cursor to save (None while the streams cannot
    be read: a later frame brings it), and who and what is there."""
    return {"type": "hello", "version": WIRE_VERSION,
            "cursor": None if cursor is None else cursor.encode(), "serverTime": now_ms(),
            "user": user, "pollInterval": poll_interval, "unread": unread, "broker": broker}


def broker_state(stats: ReaderStats) -> Json:
    """Whether the server can read the notification broker, and if not, why (not yet known to
    be unreachable counts as reachable)."""
    reachable = stats.connected or stats.last_error is None
    return {"reachable": reachable, "reason": None if reachable else stats.last_error}


def broker_frame(stats: ReaderStats) -> str:
    """Sent to every tab when the server loses or regains the broker."""
    return json.dumps({"type": "broker", **broker_state(stats)}, separators=(",", ":"))


def gaps(found: dict[str, Gap]) -> Json:
    """Per stream, the position a client resumed after and the oldest entry still held."""
    return {stream: {"after": gap.after, "resumedAt": gap.resumed_at}
            for stream, gap in found.items()}


def gap_frame(found: dict[str, Gap]) -> str:
    """Sent before a replay that cannot be whole: notifications after the client's cursor are
    no longer held (trimmed, deleted, or of an earlier epoch of the streams)."""
    return json.dumps({"type": "gap", "streams": gaps(found)}, separators=(",", ":"))


def state_change(change: StateChange) -> Json:
    """Sent to every tab of the user when read, saved or dismissed changes."""
    which: Json = {"all": True} if change.all else {}
    return {"type": "state", **which, "ids": change.ids, **change.change.as_dict(),
            "unread": change.unread}


def state_answer(change: StateChange) -> Json:
    return {"updated": len(change.ids), "unread": change.unread}


def poll_answer(delivered: Sequence[Delivered], cursor: Cursor, more: bool, marks_of: MarksOf,
                poll_interval: float, gap: dict[str, Gap]) -> Json:
    """What came after a poll's cursor; ``gap`` names the streams where some of it is no
    longer held (empty when the answer is whole)."""
    return {"notifications": items(delivered, marks_of), "cursor": cursor.encode(),
            "more": more, "serverTime": now_ms(), "pollInterval": poll_interval,
            "gap": gaps(gap)}


def inbox_page(page: InboxPage, marks_of: MarksOf, live: Cursor, poll_interval: float) -> Json:
    """A page of the inbox; ``cursor`` is where the live feed stands now, so a client with no
    cursor yet can start polling from here."""
    return {"notifications": items((e.delivered for e in page.items), marks_of),
            "next": page.next.encode() if page.next else None,
            "totalCount": page.total, "unreadCount": page.unread, "cursor": live.encode(),
            "serverTime": now_ms(), "pollInterval": poll_interval}


def count(unread: int, total: int) -> Json:
    return {"unread": unread, "total": total}


def error(message: str, field: str | None) -> Json:
    """The body of every refusal: what is wrong, and which input it is about."""
    return {"error": message, "field": field}


def compat_list(delivered: Iterable[Delivered]) -> Json:
    """The REST-polling extension's list shape."""
    return {"notifications": [
        {"id": d.id, "message": d.notification.message, "type": d.notification.type,
         "autoClose": d.notification.auto_close, "createdAt": d.created_at,
         "actions": [a.to_dict() for a in d.notification.actions],
         "data": d.notification.data}
        for d in delivered]}
