"""Read receipts: who of a notification's audience has read it, and who has not yet.

The audience of an entry is the user of a user stream, or the users whose servers read a
broadcast or group stream (each server adds its user to ``StreamNames.readers`` of the shared
streams it reads), or the users a caller names who knows better (a hub's group members, servers
started or not), less the entry's ``excludeUsers``. Whether one of them read it is in their
own ``read`` hash (``docs/protocol.md`` §12). The commands are planned once and their replies
read once, so the blocking publisher and the asyncio server share the logic.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .connection import AsyncClient, SyncClient
from .errors import NotFound
from .history.state import UNREAD
from .model import Notification
from .protocol import StreamNames, decode_entry, entry_id_key

NOT_FOUND = "is not a notification the streams hold"


@dataclass(frozen=True)
class Receipts:
    """``read`` as (user, ms it was read, or None when it counts as read because it came
    before the user's server first read the stream), ``unread`` as users; sorted by user."""

    notification_id: str
    read: list[tuple[str, int | None]]
    unread: list[str]

    @property
    def everyone_read(self) -> bool:
        return not self.unread

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.notification_id,
                "read": [{"user": user, "readAt": at} for user, at in self.read],
                "unread": [{"user": user} for user in self.unread]}

    @classmethod
    def from_dict(cls, answer: Any) -> Receipts:
        """The receipts endpoint's answer, as a server sent it."""
        try:
            return cls(str(answer["id"]),
                       [(str(r["user"]), r.get("readAt")) for r in answer["read"]],
                       [str(u["user"]) for u in answer["unread"]])
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"not a receipts answer: {answer!r:.200}") from None


@dataclass
class ReadWait:
    """How ``Publisher.wait_read`` polls: until every target of every id has read it, or the
    time is up."""

    timeout: float
    every: float = 0.25
    started: float = field(default_factory=time.monotonic)

    def over(self, found: Mapping[str, Receipts]) -> bool:
        return (all(r.everyone_read for r in found.values())
                or time.monotonic() - self.started >= self.timeout)

    def pause(self) -> float:
        return max(0.0, min(self.every, self.timeout - (time.monotonic() - self.started)))


@dataclass(frozen=True)
class _Plan:
    """The id split into its stream and entry, and the keys the answer needs."""

    names: StreamNames
    notification_id: str

    @property
    def stream(self) -> str:
        return self.notification_id.rpartition("/")[0]

    @property
    def entry_id(self) -> str:
        return self.notification_id.rpartition("/")[2]

    def check(self) -> None:
        scope = self.names.scope(self.stream)
        if not self.stream.startswith(f"{self.names.prefix}:") or scope not in (
                "broadcast", "user", "group") or not self.entry_id:
            raise NotFound("id", f"{self.notification_id!r} {NOT_FOUND}")

    def first(self, pipe: Any) -> Any:
        """Queue: the entry, and the stream's readers."""
        pipe.xrange(self.stream, min=self.entry_id, max=self.entry_id)
        pipe.smembers(self.names.readers(self.stream))
        return pipe

    def targets(self, replies: Sequence[Any], audience: Iterable[str] | None
                ) -> tuple[Notification, list[str]]:
        """The notification, and its targets: ``audience`` if given, else who the stream
        names or its readers registry holds."""
        entries, readers = replies
        if not entries:
            raise NotFound("id", f"{self.notification_id!r} {NOT_FOUND}")
        addressed, _ = self.names.addressed_to(self.stream)
        notification = decode_entry(entries[0][1])
        users = set(addressed or (_text(r) for r in readers)) if audience is None else set(
            audience)
        return notification, sorted(users - set(notification.exclude_users))

    def second(self, pipe: Any, users: Sequence[str]) -> Any:
        """Queue: each target's read mark for the notification, and where they joined."""
        for user in users:
            pipe.hget(self.names.inbox(user, "read"), self.notification_id)
            pipe.hget(self.names.inbox(user, "joined"), self.stream)
        return pipe

    def receipts(self, notification: Notification, users: Sequence[str],
                 replies: Sequence[Any]) -> Receipts:
        """The same rule as the inbox's ``InboxState.is_read``: having joined later never
        acknowledges."""
        read: list[tuple[str, int | None]] = []
        for user, mark, joined in zip(users, replies[::2], replies[1::2], strict=True):
            if mark is not None:
                if int(mark) != UNREAD:
                    read.append((user, int(mark)))
            elif (joined is not None and not notification.require_ack
                  and entry_id_key(self.entry_id) <= entry_id_key(_text(joined))):
                read.append((user, None))
        done = {u for u, _ in read}
        return Receipts(self.notification_id, read, [u for u in users if u not in done])


async def read_receipts(client: AsyncClient, names: StreamNames,
                        notification_id: str, audience: Iterable[str] | None = None
                        ) -> Receipts:
    """Who has read ``notification_id`` (``<stream>/<entry-id>``) of ``audience`` (None: the
    stream's own, see above); ``NotFound`` if the streams do not hold it."""
    plan = _Plan(names, notification_id)
    plan.check()
    notification, users = plan.targets(
        await plan.first(client.pipeline(transaction=False)).execute(), audience)
    marks = await plan.second(client.pipeline(transaction=False), users).execute()
    return plan.receipts(notification, users, marks)


def read_receipts_sync(client: SyncClient, names: StreamNames,
                       notification_id: str) -> Receipts:
    """``read_receipts`` for a blocking client."""
    plan = _Plan(names, notification_id)
    plan.check()
    notification, users = plan.targets(
        plan.first(client.pipeline(transaction=False)).execute(), None)
    marks = plan.second(client.pipeline(transaction=False), users).execute()
    return plan.receipts(notification, users, marks)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
