"""The notices hub admins send: what a request may ask, the notification it becomes, and each
notice's own record in Redis beside the streams (who sent it, to whom, when, its key, whether it
was withdrawn), so a restarted service still knows them.

A notice is withdrawn the way the protocol withdraws a pinned banner: a later notification with
its ``key`` and ``origin`` that is not pinned, written to the same streams. Running servers
drop the banner as it arrives; servers that start later list only the newer one.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

from jln_broker.connection import AsyncClient
from jln_broker.errors import Conflict, NotFound, ValidationError
from jln_broker.model import DEFAULT_LIMITS, Notification, validate
from jln_broker.protocol import StreamNames

FIELDS = ("message", "title", "type", "pinned", "requireAck", "expiresAt", "everyone", "users",
          "groups")
"""What a request to send a notice may hold."""
WITHDRAWN_PREFIX = "Withdrawn: "


@dataclass(frozen=True)
class Audience:
    """Everyone on the hub, or some groups and users (both may be named)."""

    everyone: bool = False
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"everyone": self.everyone, "users": list(self.users),
                "groups": list(self.groups)}


@dataclass(frozen=True)
class Notice:
    """One notice as recorded. ``ids`` are its notifications' ids (one a stream), empty until
    it was published; ``withdrawal_ids`` those of the notification that withdrew it."""

    id: str
    message: str
    type: str
    title: str | None
    pinned: bool
    require_ack: bool
    expires_at: int | None
    audience: Audience
    origin: str
    sent_by: str
    sent_at: int
    ids: tuple[str, ...] = ()
    withdrawn_at: int | None = None
    withdrawn_by: str | None = None
    withdrawal_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The notification key a withdrawal reuses."""
        return f"announcement:{self.id}"

    def status(self, now_ms: int) -> str:
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.expires_at is not None and now_ms >= self.expires_at:
            return "expired"
        return "active" if self.ids else "sending"

    def notification(self) -> Notification:
        """What the streams carry."""
        return validate({**self._wire(), "pinned": self.pinned, "requireAck": self.require_ack,
                         "message": self.message, "type": self.type})

    def withdrawal(self) -> Notification:
        """A notification with the notice's key and origin, not pinned: it withdraws the
        banner and takes the notice's place in every inbox. No toast (``autoClose`` 0): the
        banner going is the news."""
        message = (WITHDRAWN_PREFIX + self.message)[:DEFAULT_LIMITS.max_message_chars]
        return validate({**self._wire(), "message": message, "type": "default",
                         "autoClose": 0})

    def _wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"key": self.key, "origin": self.origin,
                                "users": list(self.audience.users),
                                "groups": list(self.audience.groups)}
        if self.title is not None:
            wire["title"] = self.title
        if self.expires_at is not None:
            wire["expiresAt"] = self.expires_at
        return wire

    def to_dict(self, now_ms: int) -> dict[str, Any]:
        """The API's form of a notice."""
        return {"id": self.id, "message": self.message, "type": self.type, "title": self.title,
                "pinned": self.pinned, "requireAck": self.require_ack,
                "expiresAt": self.expires_at, **self.audience.to_dict(), "key": self.key,
                "origin": self.origin, "sentBy": self.sent_by, "sentAt": self.sent_at,
                "ids": list(self.ids), "withdrawnAt": self.withdrawn_at,
                "withdrawnBy": self.withdrawn_by, "withdrawalIds": list(self.withdrawal_ids),
                "status": self.status(now_ms)}

    def record(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_record(cls, text: str | bytes) -> Notice:
        raw = json.loads(text)
        raw["audience"] = Audience(raw["audience"]["everyone"],
                                   tuple(raw["audience"]["users"]),
                                   tuple(raw["audience"]["groups"]))
        for name in ("ids", "withdrawal_ids"):
            raw[name] = tuple(raw[name])
        return cls(**raw)


def draft(body: Mapping[str, Any], sender: str, origin: str, now_ms: int) -> Notice:
    """A new notice from a request's body, every field checked as the model checks it (errors
    name the field and the limit); it must reach someone and must not have expired already."""
    if unknown := sorted(set(body) - set(FIELDS), key=str):
        raise ValidationError(str(unknown[0]), f"unknown field (known: {', '.join(FIELDS)})")
    everyone = body.get("everyone", False)
    if not isinstance(everyone, bool):
        raise ValidationError("everyone", f"must be true or false, not {everyone!r:.40}")
    wire = {name: body[name] for name in ("message", "title", "type", "pinned", "requireAck",
                                          "expiresAt", "users", "groups")
            if body.get(name) is not None}
    checked = validate({**wire, "origin": origin})
    audience = Audience(everyone, checked.users, checked.groups)
    if everyone and (checked.users or checked.groups):
        raise ValidationError("everyone", "must be false when users or groups are named")
    if not (everyone or checked.users or checked.groups):
        raise ValidationError("everyone", "must be true when no users or groups are named: "
                                          "a notice to everyone says so")
    if checked.expired(now_ms):
        raise ValidationError("expiresAt", f"must be in the future: {checked.expires_at} is "
                                           f"not after now ({now_ms} ms since the epoch)")
    return Notice(id=secrets.token_hex(8), message=checked.message, type=checked.type,
                  title=checked.title, pinned=checked.pinned, require_ack=checked.require_ack,
                  expires_at=checked.expires_at, audience=audience, origin=origin,
                  sent_by=sender, sent_at=now_ms)


class NoticeBook:
    """The records, in Redis under the JLN prefix: ``<prefix>:announcements`` (a hash of notice
    id to its JSON) and ``<prefix>:announcements:sent`` (the ids by time sent). Only the newest
    ``keep`` are kept."""

    def __init__(self, client: AsyncClient, names: StreamNames, keep: int) -> None:
        self.client = client
        self.records = f"{names.prefix}:announcements"
        self.sent = f"{names.prefix}:announcements:sent"
        self.withdrawn = f"{names.prefix}:announcements:withdrawn"
        self.keep = keep

    async def add(self, notice: Notice) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.records, notice.id, notice.record())
        pipe.zadd(self.sent, {notice.id: notice.sent_at})
        pipe.zcard(self.sent)
        *_, count = await pipe.execute()
        if count > self.keep:
            await self._forget_oldest(count - self.keep)

    async def save(self, notice: Notice) -> None:
        """Record what changed about a notice (its ids, its withdrawal), if it is still kept."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zscore(self.sent, notice.id)
        pipe.hset(self.records, notice.id, notice.record())
        kept, _ = await pipe.execute()
        if kept is None:  # forgotten meanwhile: do not bring it back
            await self.client.hdel(self.records, notice.id)

    async def get(self, notice_id: str) -> Notice:
        text = await self.client.hget(self.records, notice_id)
        if text is None:
            raise NotFound("id", f"{notice_id[:80]!r} is not a notice this service sent (or "
                                 f"one of the newest {self.keep} it keeps)")
        return Notice.from_record(text)

    async def newest(self, limit: int) -> list[Notice]:
        ids = cast("list[bytes]", await self.client.zrevrange(self.sent, 0, limit - 1))
        if not ids:
            return []
        found = await self.client.hmget(self.records, list(ids))
        return [Notice.from_record(text) for text in found if text is not None]

    async def claim_withdrawal(self, notice: Notice, by: str, now_ms: int) -> Notice:
        """Mark the notice as being withdrawn, once: a second admin at the same moment gets
        ``Conflict`` rather than a second withdrawal."""
        if notice.withdrawn_at is not None or not await self.client.hsetnx(
                self.withdrawn, notice.id, by):
            raise Conflict("id", f"{notice.id!r} was withdrawn already")
        return replace(notice, withdrawn_at=now_ms, withdrawn_by=by)

    async def _forget_oldest(self, count: int) -> None:
        popped = cast("list[tuple[bytes, float]]", await self.client.zpopmin(self.sent, count))
        gone = [member for member, _ in popped]
        if gone:
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(self.records, *gone)
            pipe.hdel(self.withdrawn, *gone)
            await pipe.execute()
