"""What the announcement service does, apart from HTTP: send a notice (checked against the hub:
its users and groups must exist), list them, withdraw one, and gather its receipts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from jln_broker.connection import AsyncClient
from jln_broker.errors import Conflict, ValidationError
from jln_broker.protocol import StreamNames
from jln_broker.publisher import AsyncPublisher

from .hub import HubAPI
from .notices import Notice, NoticeBook, draft
from .receipts import Receipt, receipts


def now_ms() -> int:
    return int(time.time() * 1000)


class Announcements:
    """Notices sent through ``publisher``, recorded in ``book``, their audience checked with
    ``hub``."""

    def __init__(self, publisher: AsyncPublisher, client: AsyncClient, hub: HubAPI,
                 *, origin: str, keep: int) -> None:
        self.publisher = publisher
        self.client = client
        self.names: StreamNames = publisher.names
        self.hub = hub
        self.origin = origin
        self.book = NoticeBook(client, self.names, keep)

    async def send(self, body: Mapping[str, Any], sender: str) -> Notice:
        """Record the notice, publish it (its id is the idempotency key: a retry never writes
        it twice), then record its notification ids."""
        notice = draft(body, sender, self.origin, now_ms())
        await self._check_audience(notice)
        await self.book.add(notice)
        [ids] = await self.publisher.publish_many([notice.notification()],
                                                  idempotency_key=f"announcement:{notice.id}")
        notice = replace(notice, ids=tuple(ids))
        await self.book.save(notice)
        return notice

    async def withdraw(self, notice_id: str, by: str) -> Notice:
        """Publish the notification that withdraws the notice, once."""
        notice = await self.book.get(notice_id)
        if not notice.ids:
            raise Conflict("id", f"{notice_id!r} was never published: nothing to withdraw")
        notice = await self.book.claim_withdrawal(notice, by, now_ms())
        try:
            [ids] = await self.publisher.publish_many(
                [notice.withdrawal()], idempotency_key=f"withdrawal:{notice.id}")
        except BaseException:
            await self.client.hdel(self.book.withdrawn, notice.id)  # may be tried again
            raise
        notice = replace(notice, withdrawal_ids=tuple(ids))
        await self.book.save(notice)
        return notice

    async def receipts(self, notice_id: str) -> tuple[Notice, list[Receipt]]:
        notice = await self.book.get(notice_id)
        if not notice.ids:
            raise Conflict("id", f"{notice_id!r} was never published: it has no receipts")
        return notice, await receipts(self.client, self.names, notice, await self.hub.users())

    async def _check_audience(self, notice: Notice) -> None:
        """Every user and group named must be the hub's: a typo reaches nobody, silently."""
        checks = [*(self.hub.user_exists(u) for u in notice.audience.users),
                  *(self.hub.group_exists(g) for g in notice.audience.groups)]
        found = await asyncio.gather(*checks)
        named = [("users", i, u) for i, u in enumerate(notice.audience.users)] + [
            ("groups", i, g) for i, g in enumerate(notice.audience.groups)]
        for (kind, i, name), exists in zip(named, found, strict=True):
            if not exists:
                raise ValidationError(f"{kind}[{i}]", f"{name!r} is not a "
                                                      f"{kind[:-1]} of this hub")
