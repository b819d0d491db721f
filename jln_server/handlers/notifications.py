"""``jln/api/notifications``: publish, the poll fallback, and the owner's inbox (pages, counts,
one item, state changes, topics, read receipts). Every answer's shape is ``wire``'s."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from jln_broker.errors import NotFound, ValidationError
from jln_broker.history import (
    FILTER_NAMES,
    NO_FILTERS,
    Change,
    Filters,
    PageCursor,
    parse_filters,
)
from jln_broker.http import ANCESTRY_HEADER
from jln_broker.protocol import Cursor
from jln_broker.receipts import NOT_FOUND, read_receipts

from .. import wire
from ..service import NotifyService
from ..terminals import Terminals, parse_ancestry
from .base import READY_TIMEOUT, BaseHandler, Failure, http_errors

MAX_IDS = 1000
MAX_ARRAY_ITEMS = 1000
"""Notifications one POST of an array may hold (413 beyond)."""
MAX_ARRAY_BYTES = 4 * 1024 * 1024
"""Bytes an array body may take (413 beyond); a single notification's body has its own
limit."""
_ID = re.compile(r".+/[0-9]+-[0-9]+")
_ENTRY_PART_MAX = 2**64 - 1
_FILTER_JSON: dict[str, tuple[type, ...]] = {
    "read": (bool,), "saved": (bool,), "pinned": (bool,), "type": (str,),
    "createdAfter": (int, str), "createdBefore": (int, str)}
"""JSON types of the filters in a state body that are not text."""
_PAGING = frozenset({"limit", "cursor", "order"})


class InboxHandler(BaseHandler):
    """What the inbox endpoints share: filters from the query, the owner's history ready."""

    def filters(self) -> Filters:
        return parse_filters({name: self.get_arguments(name, strip=False)
                              for name in FILTER_NAMES if name in self.request.arguments})

    async def ready(self) -> None:
        await self.learn_groups()
        await self.service.fanout.ready(READY_TIMEOUT)


class NotificationsHandler(InboxHandler):
    owner_token_methods = frozenset({"POST"})

    def initialize(self, service: NotifyService, terminals: Terminals | None = None) -> None:
        super().initialize(service)
        self.terminals = terminals or Terminals({})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Publish one notification (a JSON object) or several (an array, all or nothing) to
        their streams."""
        body = self.json_objects(MAX_ARRAY_ITEMS, MAX_ARRAY_BYTES)
        with http_errors():
            ancestry = parse_ancestry(self.request.headers.get(ANCESTRY_HEADER))
        # The terminal the publisher runs in, if it is ours, where no source is given.
        source = self.terminals.source_for(ancestry, self.service.limits)
        raws = body if isinstance(body, list) else [body]
        if source:
            raws = [{**raw, "source": source} if raw.get("source") is None else raw
                    for raw in raws]
        ids = await self.publish_items(raws, numbered=isinstance(body, list))
        self.set_status(201)
        self.finish({"ids": ids if isinstance(body, list) else ids[0]})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """With ``since``: the poll fallback, what came after that cursor. Without: the inbox,
        a page at a time, newest first unless ``order=oldest``."""
        await self.learn_groups()
        if self.get_argument("since", None):
            await self._poll()
        else:
            await self._page()

    async def _poll(self) -> None:
        self.allow_arguments({"since", "limit"})
        limit = self.int_argument("limit", 100, 1000)
        history, fanout = self.service.history, self.service.fanout
        with http_errors():
            since = Cursor.decode(self.get_argument("since"))
            await fanout.ready(READY_TIMEOUT)
            await history.refresh()  # read state another server of the owner changed
            until = fanout.cursor
            assert until is not None
            resumed = await history.resume(since, until)
            page = history.after(resumed.since, until, limit)
        self.finish(wire.poll_answer(page.items, page.cursor, page.more, history.marks,
                                     self.service.poll_interval, resumed.gaps))

    async def _page(self) -> None:
        self.allow_arguments(FILTER_NAMES | _PAGING | {"since"})  # since= empty is none
        # One limit for both modes, as openapi.yaml can say no other: more is a page of 200.
        limit = min(self.int_argument("limit", 50, 1000), 200)
        order = self.get_argument("order", "newest")
        if order not in ("newest", "oldest"):
            raise Failure(400, f"order: must be newest or oldest, not {order!r}", "order")
        cursor = self.get_argument("cursor", None)
        with http_errors():
            filters = self.filters()
            after = PageCursor.decode(cursor) if cursor else None
            await self.service.fanout.ready(READY_TIMEOUT)
            page = await self.service.history.page(filters, limit, after, order)
        live = self.service.fanout.cursor
        assert live is not None
        self.finish(wire.inbox_page(page, self.service.history.marks, live,
                                    self.service.poll_interval))


class CountHandler(InboxHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Unread and total, under the same filters as the list."""
        self.allow_arguments(FILTER_NAMES)
        with http_errors():
            filters = self.filters()
            await self.ready()
            unread, total = await self.service.history.count(filters)
        self.finish(wire.count(unread, total))


class ItemHandler(InboxHandler):
    @web.authenticated
    @authorized
    async def get(self, notification_id: str) -> None:
        """One notification of the owner's inbox."""
        with http_errors():
            await self.ready()
            entry = await self.service.history.item(notification_id)
        if entry is None:
            raise not_in_inbox(notification_id)
        history = self.service.history
        self.finish(wire.item(entry.delivered, history.marks(entry.delivered)))

    @web.authenticated
    @authorized
    async def delete(self, notification_id: str) -> None:
        """Dismiss it: gone from the owner's inbox and counts, from nobody else's."""
        with http_errors():
            await self.ready()
            if await self.service.history.item(notification_id) is None:
                raise not_in_inbox(notification_id)
            done = await self.service.change_state([notification_id], Change(dismissed=True))
        self.finish(wire.state_answer(done))


class StateHandler(InboxHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Mark read or unread, save or unsave, dismiss: some ids, or all the filters admit."""
        body = self.json_body()
        with http_errors():
            ids, change, filters = parse_state_request(body)
            await self.ready()
            done = await self.service.change_state(ids, change, filters)
        self.finish(wire.state_answer(done))


class TopicsHandler(InboxHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The topics and origins of the owner's inbox, with counts, for filter menus."""
        with http_errors():
            await self.ready()
            self.finish(await self.service.history.topics())


class ReceiptsHandler(BaseHandler):
    owner_token_methods = frozenset({"GET"})  # `jln send --wait-read` from a terminal

    @web.authenticated
    @authorized
    async def get(self, notification_id: str) -> None:
        """Who of its audience has read a notification, and who has not yet; of the owner's
        streams (or any, with the publisher secret)."""
        names = self.service.names
        with http_errors():
            self.service.policy.check_receipts(notification_id.rpartition("/")[0], names,
                                               self.service.owner.groups, self.current_user,
                                               self.secret)
            if not _redis_can_hold(notification_id):  # XRANGE would refuse it: a 502
                raise NotFound("id", f"{notification_id!r} {NOT_FOUND}")
            receipts = await read_receipts(self.service.history.client, names, notification_id)
        self.finish(receipts.to_dict())


def _redis_can_hold(notification_id: str) -> bool:
    """Whether the entry part is an id Redis could have issued: ``<ms>-<seq>``, each part
    within 64 bits."""
    if not _ID.fullmatch(notification_id):
        return False
    parts = notification_id.rpartition("/")[2].split("-")
    return all(len(part) <= 20 and int(part) <= _ENTRY_PART_MAX for part in parts)


def not_in_inbox(notification_id: str) -> Failure:
    return Failure(404, f"id: {notification_id!r} is not in this user's inbox", "id")


def parse_state_request(body: Mapping[str, Any]
                        ) -> tuple[list[str] | None, Change, Filters]:
    """``{"ids": [...]}`` or ``{"all": true, "filters": {<list filters>}}``, with ``read``,
    ``saved`` and/or ``dismissed`` as booleans. The filters are nested because ``read`` and
    ``saved`` are both a change and a filter (mark read all that are unread)."""
    known = ("ids", "all", "filters", "read", "saved", "dismissed")
    if unknown := sorted(set(body) - set(known)):
        raise ValidationError(unknown[0], f"unknown field (known: {', '.join(known)})")
    parts = {name: body[name] for name in ("read", "saved", "dismissed") if name in body}
    for name, value in parts.items():
        if not isinstance(value, bool):
            raise ValidationError(name, f"must be true or false, not {value!r}")
    if not parts:
        raise ValidationError("read", "one of read, saved or dismissed is needed")
    change = Change(**parts)
    if "all" in body:
        if body["all"] is not True or "ids" in body:
            raise ValidationError("all", "must be true, and not given with ids")
        return None, change, _filters(body.get("filters", {}))
    if "filters" in body:
        raise ValidationError("filters", "go with all: true")
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValidationError("ids", "must be a non-empty list of notification ids "
                                     "(or give all: true)")
    if len(ids) > MAX_IDS:
        raise ValidationError("ids", f"has {len(ids)} ids; the limit is {MAX_IDS}")
    for i, notification_id in enumerate(ids):
        if not _ID.fullmatch(notification_id):
            raise ValidationError(f"ids[{i}]", "must be a notification id (<stream>/<entry "
                                               f"id>), not {notification_id!r:.80}")
    return ids, change, NO_FILTERS


def _filters(given: Any) -> Filters:
    """The list's filters, given as a JSON object, read as ``parse_filters`` reads a query."""
    if not isinstance(given, dict):
        raise ValidationError("filters", "must be an object of the list's filters")
    if unknown := sorted(set(given) - FILTER_NAMES, key=str):
        raise ValidationError(f"filters.{unknown[0]}", "unknown filter (known: "
                                                       f"{', '.join(sorted(FILTER_NAMES))})")
    for name, value in given.items():
        kinds = _FILTER_JSON.get(name, (str,))
        values = value if name == "type" and isinstance(value, list) else [value]
        if (name == "type" and not isinstance(value, list)) or not all(
                isinstance(v, kinds) and not (isinstance(v, bool) and bool not in kinds)
                for v in values):
            raise ValidationError(f"filters.{name}", "has the wrong JSON type (see the list's "
                                                     "query parameters)")
    try:
        return parse_filters(_as_query(given))
    except ValidationError as err:
        raise ValidationError(f"filters.{err.field}", err.problem) from None


def _as_query(body: Mapping[str, Any]) -> dict[str, Sequence[str]]:
    """Filters given in a JSON body, as the query arguments ``parse_filters`` reads."""
    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)
    return {name: [text(v) for v in value] if isinstance(value, list) else [text(value)]
            for name, value in body.items()}
