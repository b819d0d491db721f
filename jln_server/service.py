"""What the handlers ask of the extension, free of HTTP: publish, change inbox state and tell
every tab, keep the streams tidy, report status. Reading back is ``history``'s."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from jln_broker.backoff import REFUSED, RETRYABLE, honour_swallowed_cancel
from jln_broker.connection import redact
from jln_broker.errors import FieldError, TooLarge
from jln_broker.history import NO_FILTERS, Change, Filters, StateChange
from jln_broker.model import Limits, Notification, validate
from jln_broker.protocol import StreamNames, entry_id_key
from jln_broker.publisher import AsyncPublisher, checked_idempotency_key
from jln_broker.reader import current_cursor

from . import wire
from .fanout import Fanout
from .identity import Forbidden, Owner, PublishPolicy
from .ingest import GroupCommit
from .ratelimit import RateLimiter

log = logging.getLogger("jln.service")


@dataclass(frozen=True)
class Retention:
    """How long notifications are kept: ``days`` of age and ``max_length`` per stream, swept
    every ``interval`` seconds."""

    days: float
    max_length: int
    interval: float

    @property
    def max_age_ms(self) -> int:
        return int(self.days * 86_400_000)


@dataclass
class Counters:
    ingested: int = 0
    rejected: int = 0


class NotifyService:
    """The server's one owner, reader, publisher and rules, shared by every handler."""

    def __init__(self, *, owner: Owner, names: StreamNames, limits: Limits, fanout: Fanout,
                 publisher: AsyncPublisher, policy: PublishPolicy, limiter: RateLimiter,
                 poll_interval: float, retention: Retention) -> None:
        self.owner = owner
        self.configured_groups = owner.groups
        self.names = names
        self.limits = limits
        self.fanout = fanout
        self.history = fanout.history
        self.retention = retention
        self.publisher = publisher
        self.ingest = GroupCommit(publisher)
        self.policy = policy
        self.limiter = limiter
        self.poll_interval = poll_interval
        self.counters = Counters()
        self.groups_from_hub = False
        """Whether the hub itself has said which groups the owner is in (``hub_groups``)."""
        self._tidying: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading (the fan-out) and the retention sweeps; the loop must be running."""
        self.fanout.start()
        self._tidying = asyncio.create_task(self.keep_tidy(), name="jln-retention")

    async def stop(self) -> None:
        if self._tidying:
            self._tidying.cancel()
            await asyncio.wait([self._tidying], timeout=5)  # a sweep under way ends first
        await self.fanout.stop()
        await self.ingest.close()
        await self.publisher.close()

    async def learn_groups(self, hub_user: Mapping[str, Any]) -> None:
        """Under JupyterHub the owner's groups arrive with each of the owner's requests: read
        the configured groups' streams and these, so a group joined or left on the hub is
        followed. Another hub user's request (an admin's, a shared server's guest) carries
        that user's groups, which are not the owner's to read. Once the hub itself has told
        the server (``hub_groups``), requests are not followed: their models are cached for
        minutes and would bring back a group the owner has left."""
        groups = hub_user.get("groups")
        if (self.groups_from_hub or hub_user.get("name") != self.owner.name
                or not isinstance(groups, list)):
            return
        await self._follow_groups(groups)

    async def hub_groups(self, groups: Sequence[str]) -> None:
        """The owner's groups as the hub has them now (``HubGroups``), followed from now on."""
        self.groups_from_hub = True
        await self._follow_groups(groups)

    async def _follow_groups(self, groups: Sequence[Any]) -> None:
        """Read the configured groups' streams and these."""
        wanted = tuple(dict.fromkeys(
            [*self.configured_groups, *(g for g in groups if isinstance(g, str) and g)]))
        if wanted != self.owner.groups:
            self.owner = replace(self.owner, groups=wanted)
            await self.fanout.follow(self.owner.streams(self.names))

    async def publish(self, raw: Mapping[str, Any], *, requester: str, current_user: Any,
                      secret: str | None, idempotency_key: str | None = None) -> list[str]:
        """Validate, authorize, rate-limit and write one notification; return its ids."""
        return (await self.publish_all([raw], requester=requester, current_user=current_user,
                                       secret=secret, idempotency_key=idempotency_key,
                                       numbered=False))[0]

    async def publish_all(self, raws: Sequence[Mapping[str, Any]], *, requester: str,
                          current_user: Any, secret: str | None,
                          idempotency_key: str | None = None,
                          numbered: bool = True) -> list[list[str]]:
        """Validate, authorize, rate-limit and write notifications, all or nothing, in one
        round trip shared with other requests of the moment; return each one's ids. An error
        about one names it (``[3].message``) when ``numbered``."""
        try:
            checked_idempotency_key(idempotency_key)
            if self.limiter.rate > 0 and self.limiter.burst < len(raws):
                raise TooLarge("body", f"holds {len(raws)} notifications; the ingest rate "
                                       f"limit lets {self.limiter.burst:g} go at once "
                                       "(JLN.ingest_burst)")
            notifications = [self._allowed(raw, current_user, secret, f"[{n}]" if numbered
                                           else "") for n, raw in enumerate(raws)]
            self.limiter.take(requester, len(notifications))
            read_here = set(self.fanout.streams)
            for notification in notifications:  # validated once: not again when read back
                if not read_here.isdisjoint(self.names.targets(notification)):
                    self.fanout.decoder.expect(notification)
            ids = await self.ingest.publish(notifications, idempotency_key)
        except Exception:
            self.counters.rejected += len(raws)
            raise
        self.counters.ingested += len(raws)
        return ids

    def _allowed(self, raw: Mapping[str, Any], current_user: Any, secret: str | None,
                 item: str) -> Notification:
        """One notification, valid and storable (else a 400 before the rate limit counts) and
        for an audience the requester may reach."""
        try:
            notification = self.policy.addressed(validate(raw, self.limits), current_user)
            notification.packed  # noqa: B018
        except FieldError as err:
            if item:
                raise type(err)(f"{item}.{err.field}", err.problem) from None
            raise
        try:
            self.policy.check(notification.users, notification.groups, current_user, secret)
        except Forbidden as err:
            raise Forbidden(f"{item}: {err}" if item else str(err)) from None
        return notification

    async def change_state(self, ids: Sequence[str] | None, change: Change,
                           filters: Filters = NO_FILTERS) -> StateChange:
        """Change read, saved or dismissed, and tell every open tab of the owner at once."""
        done = await self.history.change(ids, change, filters)
        if done.ids:
            self.fanout.tell_all(json.dumps(wire.state_change(done), separators=(",", ":")))
        return done

    async def keep_tidy(self) -> None:
        """Trim the streams by age and length now and then, dropping read state with them."""
        await self.fanout.ready()
        while True:
            try:
                gone = await self.history.sweep(self.retention.max_age_ms,
                                                self.retention.max_length)
                if gone:
                    log.info("retention: %d notifications older than %g days or past the "
                             "%d newest went", gone, self.retention.days,
                             self.retention.max_length)
            except (*RETRYABLE, *REFUSED) as err:
                log.warning("retention sweep failed (%s); trying again later", err)
            honour_swallowed_cancel()  # a stop during the sweep must not sleep for an hour
            await asyncio.sleep(self.retention.interval)

    async def status(self) -> dict[str, Any]:
        stats = self.fanout.reader.stats
        held = [sub.held for sub in self.fanout.subscriptions]
        return {
            "broker": {"url": redact(self.publisher.url), "reachable": stats.connected,
                       "lastError": stats.last_error},
            "reader": {"streams": self.fanout.streams, "epoch": self.history.epoch,
                       "lagMs": await self._lag_ms(),
                       **stats.as_dict()},
            "clients": {"connected": len(self.fanout.subscriptions),
                        "cutOffSlow": self.fanout.slow_clients,
                        "heldBytes": sum(held),
                        "mostHeldBytes": max(held, default=0)},
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
