"""A notice's receipts, per target user: acknowledged, read, unread (a server of theirs has it),
or not started (no server of theirs has run since it was sent, so nothing has shown it yet).

The targets come from the hub (everyone, the members of the notice's groups, the users it
names), so users who never started a server count too; whether each read it is JLN's own
read receipt (``jln_broker.receipts``) of the notification on the stream that reached them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jln_broker.connection import AsyncClient
from jln_broker.protocol import StreamNames
from jln_broker.receipts import read_receipts

from .hub import HubUser
from .notices import Notice

STATUSES = ("acknowledged", "read", "unread", "not-started")


@dataclass(frozen=True)
class Receipt:
    user: str
    status: str
    read_at: int | None
    """When they read it; None if not, or counted read because it came before their server
    first read the stream."""
    server_running: bool
    last_activity: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "status": self.status, "readAt": self.read_at,
                "serverRunning": self.server_running, "lastActivity": self.last_activity}


def targets(notice: Notice, names: StreamNames, users: Mapping[str, HubUser]
            ) -> dict[str, list[str]]:
    """Each notification id of the notice, with the hub users it is for."""
    audience = notice.audience
    found: dict[str, list[str]] = {}
    for notification_id in notice.ids:
        stream = notification_id.rpartition("/")[0]
        if audience.everyone:
            found[notification_id] = sorted(users)
            continue
        named, groups = names.addressed_to(stream)
        found[notification_id] = sorted(
            {u for u in named} | {u.name for u in users.values() if set(u.groups) & set(groups)})
    return found


async def receipts(client: AsyncClient, names: StreamNames, notice: Notice,
                   users: Mapping[str, HubUser]) -> list[Receipt]:
    """One receipt per target user, sorted by name; a user reached on several streams (two of
    the notice's groups) has read it if they read it on any."""
    read: dict[str, int | None] = {}
    everyone: set[str] = set()
    for notification_id, audience in targets(notice, names, users).items():
        everyone.update(audience)
        answer = await read_receipts(client, names, notification_id, audience)
        for user, at in answer.read:
            read[user] = at if read.get(user) is None else read[user]
    return [_receipt(notice, name, name in read, read.get(name), users.get(name))
            for name in sorted(everyone)]


def _receipt(notice: Notice, name: str, was_read: bool, read_at: int | None,
             user: HubUser | None) -> Receipt:
    if was_read:
        status = "acknowledged" if notice.require_ack else "read"
    elif user is not None and user.ran_since(notice.sent_at):
        status = "unread"
    else:
        status = "not-started"
    return Receipt(name, status, read_at, bool(user and user.running),
                   user.last_activity if user else None)


def counts(found: list[Receipt]) -> dict[str, int]:
    return {status: sum(r.status == status for r in found) for status in STATUSES}
