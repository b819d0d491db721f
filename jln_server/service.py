"""What the handlers ask of the extension, free of HTTP: publish, list, report status."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from jln_broker.backoff import REFUSED, RETRYABLE
from jln_broker.connection import redact
from jln_broker.model import Limits, validate
from jln_broker.protocol import Cursor, StreamNames, entry_id_key
from jln_broker.publisher import AsyncPublisher
from jln_broker.reader import Page, current_cursor, read_range

from .fanout import Fanout
from .identity import Owner, PublishPolicy
from .ratelimit import RateLimiter


@dataclass
class Counters:
    ingested: int = 0
    rejected: int = 0


class NotifyService:
    """The server's one owner, reader, publisher and rules, shared by every handler."""

    def __init__(self, *, owner: Owner, names: StreamNames, limits: Limits, fanout: Fanout,
                 publisher: AsyncPublisher, policy: PublishPolicy, limiter: RateLimiter,
                 poll_interval: float) -> None:
        self.owner = owner
        self.configured_groups = owner.groups
        self.names = names
        self.limits = limits
        self.fanout = fanout
        self.publisher = publisher
        self.policy = policy
        self.limiter = limiter
        self.poll_interval = poll_interval
        self.counters = Counters()

    async def learn_groups(self, hub_user: Mapping[str, Any]) -> None:
        """Under JupyterHub the owner's groups arrive with each of the owner's requests: read
        the configured groups' streams and these, so a group joined or left on the hub is
        followed. Another hub user's request (an admin's, a shared server's guest) carries
        that user's groups, which are not the owner's to read."""
        groups = hub_user.get("groups")
        if hub_user.get("name") != self.owner.name or not isinstance(groups, list):
            return
        wanted = tuple(dict.fromkeys(
            [*self.configured_groups, *(g for g in groups if isinstance(g, str) and g)]))
        if wanted != self.owner.groups:
            self.owner = replace(self.owner, groups=wanted)
            await self.fanout.follow(self.owner.streams(self.names))

    async def publish(self, raw: Mapping[str, Any], *, requester: str, current_user: Any,
                      secret: str | None) -> list[str]:
        """Validate, authorize, rate-limit and write one notification; return its ids."""
        try:
            notification = validate(raw, self.limits)
            notification.packed  # noqa: B018 (unstorable is a 400, before the rate limit counts)
            self.policy.check(notification, current_user, secret)
            self.limiter.take(requester)
            ids = await self.publisher.publish_many([notification])
        except Exception:
            self.counters.rejected += 1
            raise
        self.counters.ingested += 1
        return ids[0]

    async def since(self, cursor: Cursor, limit: int) -> Page:
        """The oldest ``limit`` notifications after ``cursor``: one page of the poll fallback."""
        until = await current_cursor(self.fanout.client, self.fanout.streams)
        return await read_range(self.fanout.client, self.fanout.decoder, cursor, until,
                                count=limit)

    async def recent(self, limit: int) -> Page:
        """The newest ``limit`` notifications, oldest first, and the cursor after them."""
        until = await current_cursor(self.fanout.client, self.fanout.streams)
        pipe = self.fanout.client.pipeline(transaction=False)
        for stream in self.fanout.streams:  # up to ``until``: later ones are the next poll's
            pipe.xrevrange(stream, max=until.positions[stream], count=limit)
        found = []
        now = int(time.time() * 1000)
        for stream, entries in zip(self.fanout.streams, await pipe.execute(), strict=True):
            found.extend(self.fanout.decoder.decode(stream, entries, now))
        found.sort(key=lambda d: entry_id_key(d.entry_id))
        return Page(found[-limit:], until, more=False)

    async def status(self) -> dict[str, Any]:
        stats = self.fanout.reader.stats
        return {
            "broker": {"url": redact(self.publisher.url), "reachable": stats.connected,
                       "lastError": stats.last_error},
            "reader": {"streams": self.fanout.streams, "lagMs": await self._lag_ms(),
                       **stats.as_dict()},
            "clients": {"connected": len(self.fanout.subscriptions),
                        "cutOffSlow": self.fanout.slow_clients},
            "ingest": {"accepted": self.counters.ingested, "rejected": self.counters.rejected},
            "user": self.owner.name,
            "groups": list(self.owner.groups),
            "pollInterval": self.poll_interval,
        }

    async def _lag_ms(self) -> int | None:
        """How far (in Redis time) the reader is behind the newest entry; None if unknown."""
        if self.fanout.cursor is None:
            return None
        try:
            newest = await current_cursor(self.fanout.client, self.fanout.streams)
        except (*RETRYABLE, *REFUSED):
            return None
        return max(entry_id_key(newest.position(s))[0]
                   - entry_id_key(self.fanout.cursor.position(s))[0] for s in self.fanout.streams)
