"""One user's inbox state in Redis: what they read, saved and dismissed, and where their history
of each shared stream starts.

Redis holds the truth (``docs/protocol.md`` lists the keys, all named by ``StreamNames.inbox``,
so a Redis ACL can confine a user to their own); this class holds a copy for fast counts. Every
change bumps a version key in the same transaction, so another server of the same user (a second
named server) sees its copy is stale and reloads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from ..connection import AsyncClient
from ..model import Notification
from ..protocol import StreamNames, entry_id_key
from .timeline import Entry

PARTS = ("read", "saved", "dismissed")
EDITS_KEPT = 64
"""State changes remembered for ``InboxState.edited_since``; a view further behind rebuilds."""
UNREAD = 0
"""The ``read`` value of a notification marked unread (it may lie before the user joined)."""


class Marks(NamedTuple):
    """One notification's state as the browser sees it."""

    read: bool
    saved: bool
    read_at: int | None


FRESH = Marks(False, False, None)
"""A notification just published: nobody can have marked it yet."""


@dataclass(frozen=True)
class Change:
    """A state change asked for: ``None`` leaves that part as it is."""

    read: bool | None = None
    saved: bool | None = None
    dismissed: bool | None = None

    def as_dict(self) -> dict[str, bool]:
        return {part: value for part, value in (("read", self.read), ("saved", self.saved),
                                                ("dismissed", self.dismissed))
                if value is not None}

    def taken_by(self, notification: Notification, *, named: bool) -> Change:
        """The part of this change a notification takes: a pinned one is never dismissed, and
        one that asks for an acknowledgement is marked read or unread only by a change that
        ``named`` it (its id), never by a mark-all."""
        return replace(self, dismissed=None if notification.pinned else self.dismissed,
                       read=self.read if named or not notification.require_ack else None)


class InboxState:
    """The cached state of one user's inbox."""

    def __init__(self, names: StreamNames, user: str) -> None:
        self.keys = {part: names.inbox(user, part) for part in PARTS}
        self.joined_key = names.inbox(user, "joined")
        self.version_key = names.inbox(user, "version")
        self.parts: dict[str, dict[str, int]] = {part: {} for part in PARTS}
        self.joined: dict[str, tuple[int, int]] = {}
        self.changes = 0
        """Counts reloads and changes, so views can cache on it."""
        self._version: int | None = None
        self._edits: list[tuple[int, list[str]]] = []  # (changes after it, the ids it changed)
        self._edits_from = 0  # ``changes`` when the edits began: before it, only a reload says

    def edited_since(self, changes: int) -> list[str] | None:
        """The ids whose marks changed since ``changes``, if every change since was one of
        ours (``apply``) still remembered; None when something else changed (a reload, a join,
        a forget), so a view must work everything out again."""
        if changes < self._edits_from:
            return None
        return [i for after, ids in self._edits if after > changes for i in ids]

    def _reloaded(self) -> None:
        self.changes += 1
        self._edits.clear()
        self._edits_from = self.changes

    def _edited(self, ids: list[str]) -> None:
        self.changes += 1
        self._edits.append((self.changes, ids))
        if len(self._edits) > EDITS_KEPT:
            del self._edits[:EDITS_KEPT // 2]
            self._edits_from = self._edits[0][0] - 1

    def marks(self, entry: Entry) -> Marks:
        return Marks(self.is_read(entry), self.is_saved(entry), self.read_at(entry))

    def read_at(self, entry: Entry) -> int | None:
        """When the user read it; None if unread or read only by having joined later."""
        at = self.parts["read"].get(entry.id)
        return at or None

    def is_read(self, entry: Entry) -> bool:
        at = self.parts["read"].get(entry.id)
        if at is not None:
            return at != UNREAD
        joined = self.joined.get(entry.delivered.stream)
        return (joined is not None and entry.id_key <= joined
                and not entry.delivered.notification.require_ack)

    def is_saved(self, entry: Entry) -> bool:
        return entry.id in self.parts["saved"]

    def is_dismissed(self, entry: Entry) -> bool:
        return entry.id in self.parts["dismissed"]

    async def load(self, client: AsyncClient) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.get(self.version_key)
        for part in PARTS:
            pipe.hgetall(self.keys[part])
        pipe.hgetall(self.joined_key)
        version, *parts, joined = await pipe.execute()
        self._version = int(version or 0)
        self.parts = {part: {_text(k): int(v) for k, v in found.items()}
                      for part, found in zip(PARTS, parts, strict=True)}
        self.joined = {_text(k): entry_id_key(_text(v)) for k, v in joined.items()}
        self._reloaded()

    async def refresh(self, client: AsyncClient) -> None:
        """Reload if another server of this user changed the state since."""
        version = await client.get(self.version_key)
        if int(version or 0) != self._version:
            await self.load(client)

    async def join(self, client: AsyncClient, positions: dict[str, str], *,
                   restart: bool = False) -> None:
        """Record, for each shared stream read for the first time, that this user's history of
        it starts at ``position``: what came before counts as read (a new user is not handed
        the whole backlog of announcements as unread), except what asks for an acknowledgement,
        which only the user gives (its banner shows until then). ``restart``: the streams
        started anew, and so does the user's history of them."""
        if not positions:
            return
        pipe = client.pipeline(transaction=True)
        for stream, position in positions.items():
            if restart:
                pipe.hset(self.joined_key, stream, position)
            else:
                pipe.hsetnx(self.joined_key, stream, position)
        pipe.hgetall(self.joined_key)
        *_, joined = await pipe.execute()
        self.joined = {_text(k): entry_id_key(_text(v)) for k, v in joined.items()}
        self._reloaded()

    async def apply(self, client: AsyncClient, entries: Iterable[Entry], change: Change,
                    now: int, *, named: bool = True) -> list[str]:
        """Write ``change`` for ``entries`` (``named`` by id, or all some filters admit), as
        each takes it (``Change.taken_by``); return the ids whose state really changed.
        Dismissing marks read too: a dismissed notification has been seen."""
        wanted = _plan(self, list(entries), change, now, named)
        changed = sorted({i for writes in wanted.values() for i in writes})
        if not changed:
            return []
        pipe = client.pipeline(transaction=True)
        for part, writes in wanted.items():
            kept: dict[Any, int] = {i: v for i, v in writes.items() if v is not None}
            if kept:
                pipe.hset(self.keys[part], mapping=kept)
            if gone := [i for i, v in writes.items() if v is None]:
                pipe.hdel(self.keys[part], *gone)
        pipe.incr(self.version_key)
        *_, version = await pipe.execute()
        for part, writes in wanted.items():
            for notification_id, value in writes.items():
                if value is None:
                    self.parts[part].pop(notification_id, None)
                else:
                    self.parts[part][notification_id] = value
        self._edited(changed)
        if self._version is not None and version != self._version + 1:
            await self.load(client)  # another server changed it meanwhile: take theirs too
        self._version = version
        return changed

    async def forget(self, client: AsyncClient, gone: Iterable[str]) -> None:
        """Drop the state of notifications the streams no longer hold (retention)."""
        ids = set(gone)
        doomed = {part: [i for i in marks if i in ids] for part, marks in self.parts.items()}
        if not any(doomed.values()):
            return
        pipe = client.pipeline(transaction=True)
        for part, stale in doomed.items():
            if stale:
                pipe.hdel(self.keys[part], *stale)
                for notification_id in stale:
                    del self.parts[part][notification_id]
        pipe.incr(self.version_key)
        *_, self._version = await pipe.execute()
        self._reloaded()

    def ids(self) -> set[str]:
        """Every notification id some state is kept for."""
        return {i for marks in self.parts.values() for i in marks}


def _plan(state: InboxState, entries: list[Entry], asked: Change, now: int, named: bool
          ) -> dict[str, dict[str, int | None]]:
    """Per part, the values to write (None: delete) for the entries whose state differs."""
    wanted: dict[str, dict[str, int | None]] = {part: {} for part in PARTS}
    for entry in entries:
        change = asked.taken_by(entry.delivered.notification, named=named)
        read = True if change.dismissed else change.read
        if read is not None and state.is_read(entry) != read:
            wanted["read"][entry.id] = now if read else UNREAD
        if change.saved is not None and state.is_saved(entry) != change.saved:
            wanted["saved"][entry.id] = now if change.saved else None
        if change.dismissed is not None and state.is_dismissed(entry) != change.dismissed:
            wanted["dismissed"][entry.id] = now if change.dismissed else None
    return wanted


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
