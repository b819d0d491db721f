"""The inbox as one user sees it: the timeline less what is excluded, not yet due, expired,
superseded by a later notification with the same key, or dismissed; then filtered and paged.

The visible list, with each entry's unread flag, is worked out once and then kept up to date
with every arrival and every change of marks made here; it is worked out again only when the
state is reloaded, an entry arrives out of order or goes, or something expires or falls due. The
unread count is a lookup; a filtered page or count is one pass over the visible list, kept for
the next request with the same filters until the list changes.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from ..errors import ValidationError
from ..model import TYPES, parse_time
from .state import InboxState
from .timeline import Entry, Order, Timeline

SEVERITY = {"default": 0, "in-progress": 0, "info": 1, "success": 1, "warning": 2, "error": 3}
"""For ``minType``: ``warning`` means warning and error."""
SCOPES = ("all", "user", "group", "broadcast")
ORDERS = ("newest", "oldest")
MAX_SEARCH_CHARS = 200
MAX_TIME_DIGITS = 15  # milliseconds until the year 33658, as openapi.yaml's Moment says
NOT_YET = 2**63


@dataclass(frozen=True)
class Filters:
    """What a list, a count or a mark-all may be narrowed to; every one is optional."""

    search: str | None = None
    types: frozenset[str] = frozenset()
    min_type: str | None = None
    topic: str | None = None
    origin: str | None = None
    read: bool | None = None
    saved: bool | None = None
    pinned: bool | None = None
    created_after: int | None = None
    created_before: int | None = None
    scope: str = "all"
    _needle: str = field(default="", init=False, repr=False, compare=False)

    @property
    def on_marks(self) -> bool:
        """Whether what these filters admit depends on the user's marks."""
        return self.read is not None or self.saved is not None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_needle", (self.search or "").casefold())

    def admits(self, entry: Entry, state: InboxState, scope_of: Callable[[str], str]) -> bool:
        n = entry.delivered.notification
        created = entry.order[1]
        return ((not self._needle or self._needle in entry.text)
                and (not self.types or n.type in self.types)
                and (self.min_type is None or SEVERITY[n.type] >= SEVERITY[self.min_type])
                and (self.topic is None or n.topic == self.topic)
                and (self.origin is None or n.origin == self.origin)
                and (self.created_after is None or created > self.created_after)
                and (self.created_before is None or created < self.created_before)
                and (self.scope == "all" or scope_of(entry.delivered.stream) == self.scope)
                and (self.read is None or state.is_read(entry) == self.read)
                and (self.saved is None or state.is_saved(entry) == self.saved)
                and (self.pinned is None or n.pinned == self.pinned))


def parse_filters(values: Mapping[str, Sequence[str]]) -> Filters:
    """Filters from query arguments (each name to its values, as text); errors name the
    argument."""
    one = _single(values)
    types = values.get("type", ())
    min_type = one("minType", None)
    for name, kind in [*(("type", t) for t in types), *([("minType", min_type)] if min_type
                                                         is not None else [])]:
        if kind not in TYPES:
            raise ValidationError(name, f"must be one of {', '.join(TYPES)}, not {kind!r}")
    search = one("search", None)
    if search is not None and len(search) > MAX_SEARCH_CHARS:
        raise ValidationError("search", f"is {len(search)} characters; the limit is "
                                        f"{MAX_SEARCH_CHARS}")
    scope = one("scope", "all")
    if scope not in SCOPES:
        raise ValidationError("scope", f"must be one of {', '.join(SCOPES)}, not {scope!r}")
    return Filters(
        search=search or None, types=frozenset(types), min_type=min_type,
        topic=one("topic", None), origin=one("origin", None), read=_flag(one, "read"),
        saved=_flag(one, "saved"), pinned=_flag(one, "pinned"),
        created_after=_time(one, "createdAfter"), created_before=_time(one, "createdBefore"),
        scope=scope)


NO_FILTERS = Filters()

FILTER_NAMES = frozenset({"search", "type", "minType", "topic", "origin", "read", "saved",
                          "pinned", "createdAfter", "createdBefore", "scope"})


def _single(values: Mapping[str, Sequence[str]]) -> Callable[[str, Any], Any]:
    def one(name: str, default: Any) -> Any:
        given = values.get(name, ())
        if len(given) > 1:
            raise ValidationError(name, "may be given once")
        return given[0] if given else default
    return one


def _flag(one: Callable[[str, Any], Any], name: str) -> bool | None:
    value = one(name, None)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise ValidationError(name, f"must be true or false, not {value!r}")
    return bool(value == "true")


def _time(one: Callable[[str, Any], Any], name: str) -> int | None:
    value = one(name, None)
    if value is None:
        return None
    return parse_time(name, int(value) if value.isascii() and value.isdigit()
                      and len(value) <= MAX_TIME_DIGITS else value)


@dataclass(frozen=True)
class PageCursor:
    """Where the next page starts: just past the last item given, in the page's order."""

    after: Order

    def encode(self) -> str:
        text = json.dumps(list(self.after), separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> PageCursor:
        try:
            value = json.loads(base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()))
        except (binascii.Error, ValueError, RecursionError):
            value = None
        if not (isinstance(value, list) and len(value) == 4
                and all(type(v) is int and 0 <= v < 2**64 for v in value[:3])
                and isinstance(value[3], str)):
            raise ValidationError("cursor", "is not a page cursor this server issued")
        return cls((value[0], value[1], value[2], value[3]))


@dataclass(frozen=True)
class InboxPage:
    items: list[Entry]
    next: PageCursor | None
    total: int
    unread: int


@dataclass(slots=True)
class Found:
    """The visible entries some filters admit: their places in the visible list, oldest first,
    and how many are unread; worked out over the first ``upto`` entries, when the view's
    ``layout`` and ``marks`` were as noted."""

    places: Sequence[int]
    unread: int
    upto: int
    layout: int
    marks: int


FOUND_KEPT = 8
"""Filtered results kept: a panel asks the same filters for a page, the next page and a count,
many times between changes. A result follows what the visible list does (``layout``): an entry
taken out is taken out of it, an arrival at the newest end is tested alone, and a change of
marks only recounts the unread among the matches (unless the filters are on the marks); an
entry put back in the middle, or a rebuild, means a new scan."""


class InboxView:
    """Visible entries, worked out once, then kept up to date with each arrival and each change
    of read, saved or dismissed made here; worked out again only when anything else changes."""

    def __init__(self, timeline: Timeline, state: InboxState,
                 scope_of: Callable[[str], str]) -> None:
        self.timeline = timeline
        self.state = state
        self.scope_of = scope_of
        self._seen: tuple[int, int] = (-1, -1)
        self._valid_until = 0
        self._visible: list[Entry] = []  # oldest first
        self._orders: list[Order] = []
        self._unread_flags = bytearray()  # 1 where the visible entry at that place is unread
        self._unread = 0
        self._standing: dict[tuple[str | None, str], Entry] = {}  # by (origin, key)
        self._found: dict[Filters, Found] = {}
        self._layout = 0  # counts changes that moved or removed a visible entry
        self._marks = 0  # counts changes of marks

    def visible(self, now: int) -> list[Entry]:
        """The inbox, oldest first."""
        seen = (self.timeline.changes, self.state.changes)
        if seen == self._seen and now < self._valid_until:
            return self._visible
        added = edited = None
        if now < self._valid_until:
            added = self.timeline.appended_since(self._seen[0])
            edited = self.state.edited_since(self._seen[1])
        if added is None or edited is None or len(edited) > len(self._visible) // 4 + 100:
            self._rebuild(now)  # (a mark-all over much of the inbox: one pass is cheaper)
        else:
            self._append(added, now)
            self._edit(edited, now)
            self._seen = seen
        return self._visible

    def unread(self, now: int) -> int:
        self.visible(now)
        return self._unread

    def contains(self, entry: Entry, now: int) -> bool:
        self.visible(now)
        return self._place(entry) is not None

    def _place(self, entry: Entry) -> int | None:
        i = bisect_left(self._orders, entry.order)
        return i if i < len(self._visible) and self._visible[i] is entry else None

    def matching(self, filters: Filters, now: int) -> list[Entry]:
        """The visible entries the filters admit, oldest first."""
        visible = self.visible(now)
        found = self.found(filters, now)
        return visible if filters == NO_FILTERS else [visible[i] for i in found.places]

    def found(self, filters: Filters, now: int) -> Found:
        size = len(self.visible(now))
        if filters == NO_FILTERS:
            return Found(range(size), self._unread, size, self._layout, self._marks)
        found = self._found.get(filters)
        if (found is None or found.layout != self._layout
                or (found.marks != self._marks and filters.on_marks)):
            found = Found(self._admitted(filters, 0), 0, size, self._layout, -1)
            if len(self._found) >= FOUND_KEPT:
                del self._found[next(iter(self._found))]
            self._found[filters] = found
        elif found.upto < size:  # arrivals, all at the newest end
            assert isinstance(found.places, list)
            newer = self._admitted(filters, found.upto)
            found.places.extend(newer)
            found.unread += sum(map(self._unread_flags.__getitem__, newer))
            found.upto = size
        if found.marks != self._marks:
            found.unread = sum(map(self._unread_flags.__getitem__, found.places))
            found.marks = self._marks
        return found

    def _admitted(self, filters: Filters, start: int) -> list[int]:
        """The places from ``start`` on of the visible entries ``filters`` admit."""
        entries: Iterable[tuple[int, Entry]] = enumerate(islice(self._visible, start, None),
                                                         start)
        if filters._needle:  # the text alone first: a bare ``in`` per entry, no call
            needle = filters._needle
            places = [i for i, e in entries if needle in e.text]
            if replace(filters, search=None) == NO_FILTERS:
                return places
            entries = ((i, self._visible[i]) for i in places)
        admits, state, scope_of = filters.admits, self.state, self.scope_of
        return [i for i, e in entries if admits(e, state, scope_of)]

    def count(self, filters: Filters, now: int) -> tuple[int, int]:
        """(unread, total) under ``filters``."""
        found = self.found(filters, now)
        return found.unread, len(found.places)

    def page(self, filters: Filters, limit: int, cursor: PageCursor | None, order: str,
             now: int) -> InboxPage:
        found = self.found(filters, now)
        places, orders = found.places, self._orders
        if order == "newest":
            end = len(places) if cursor is None else bisect_left(
                places, cursor.after, key=orders.__getitem__)
            chosen = places[max(0, end - limit):end][::-1]
            more = end > limit
        else:
            start = 0 if cursor is None else bisect_right(
                places, cursor.after, key=orders.__getitem__)
            chosen = places[start:start + limit]
            more = start + limit < len(places)
        items = [self._visible[i] for i in chosen]
        return InboxPage(items, PageCursor(items[-1].order) if more and items else None,
                         len(places), found.unread)

    def topics(self, now: int) -> dict[str, list[dict[str, Any]]]:
        """The topics and origins of the inbox, with how many of each (and unread)."""
        tally: dict[str, dict[str, list[int]]] = {"topics": {}, "origins": {}}
        for entry, unread in zip(self.visible(now), self._unread_flags, strict=True):
            n = entry.delivered.notification
            for kind, name in (("topics", n.topic), ("origins", n.origin)):
                if name is not None:
                    counts = tally[kind].setdefault(name, [0, 0])
                    counts[0] += 1
                    counts[1] += unread
        return {kind: [{"name": name, "count": c[0], "unread": c[1]}
                       for name, c in sorted(found.items())] for kind, found in tally.items()}

    def _rebuild(self, now: int) -> None:
        """Newest first, so the first notification with a key is the one that stands."""
        timeline, state = self.timeline, self.state
        user, dismissed = timeline.user, state.parts["dismissed"]
        standing: dict[tuple[str | None, str], Entry] = {}
        visible: list[Entry] = []
        valid_until = NOT_YET
        for entry in timeline.newest_first():
            n = entry.delivered.notification
            if entry.order[0] > now:
                valid_until = min(valid_until, entry.order[0])
                continue
            if user in n.exclude_users:
                continue
            if n.key is not None:
                if (n.origin, n.key) in standing:
                    continue  # superseded by a later one with its key
                standing[(n.origin, n.key)] = entry
            if n.expired(now) or entry.id in dismissed:
                continue
            if n.expires_at is not None:
                valid_until = min(valid_until, n.expires_at)
            visible.append(entry)
        visible.reverse()
        self._visible = visible
        self._orders = [e.order for e in visible]
        self._unread_flags = bytearray(not state.is_read(e) for e in visible)
        self._unread = self._unread_flags.count(1)
        self._layout += 1
        self._marks += 1
        self._standing = standing
        self._seen = (timeline.changes, state.changes)
        self._valid_until = valid_until

    def _append(self, added: list[Entry], now: int) -> None:
        """What ``_rebuild`` would do for entries newer than everything: live traffic costs
        each arrival a few steps instead of a pass over the whole inbox."""
        for entry in added:
            n = entry.delivered.notification
            if entry.at > now:
                self._valid_until = min(self._valid_until, entry.at)
                continue
            if n.excludes(self.timeline.user):
                continue
            if n.key is not None:
                earlier = self._standing.get((n.origin, n.key))
                self._standing[(n.origin, n.key)] = entry
                if earlier is not None and (place := self._place(earlier)) is not None:
                    self._drop(place)
            if n.expired(now) or self.state.is_dismissed(entry):
                continue
            self._insert(len(self._visible), entry)

    def _edit(self, ids: list[str], now: int) -> None:
        """What ``_rebuild`` would do after the marks of ``ids`` changed: a read or unread
        entry counts again, a dismissed one goes, an undismissed one that stands comes back.
        Which entry stands for a key does not depend on the marks."""
        self._marks += bool(ids)
        for notification_id in dict.fromkeys(ids):
            entry = self.timeline.get(notification_id)
            if entry is None:
                continue
            place = self._place(entry)
            n = entry.delivered.notification
            shows = (entry.at <= now and not n.excludes(self.timeline.user)
                     and (n.key is None or self._standing.get((n.origin, n.key)) is entry)
                     and not n.expired(now) and not self.state.is_dismissed(entry))
            if place is None:
                if shows:
                    self._insert(bisect_left(self._orders, entry.order), entry)
            elif not shows:
                self._drop(place)
            else:
                unread = not self.state.is_read(entry)
                self._unread += unread - self._unread_flags[place]
                self._unread_flags[place] = unread

    def _insert(self, place: int, entry: Entry) -> None:
        expires_at = entry.delivered.notification.expires_at
        if expires_at is not None:
            self._valid_until = min(self._valid_until, expires_at)
        unread = not self.state.is_read(entry)
        self._layout += place != len(self._visible)
        self._visible.insert(place, entry)
        self._orders.insert(place, entry.order)
        self._unread_flags.insert(place, unread)
        self._unread += unread

    def _drop(self, place: int) -> None:
        """Take the entry at ``place`` out, and out of the kept results, whose later places
        move down by one: what a dismissal or a superseding arrival (mostly near the newest
        end) costs them, rather than a scan of the whole inbox each."""
        unread = self._unread_flags[place]
        for found in self._found.values():
            if found.layout == self._layout:
                if place < found.upto:
                    assert isinstance(found.places, list)
                    places = found.places
                    k = bisect_left(places, place)
                    if k < len(places) and places[k] == place:
                        del places[k]
                        found.unread -= unread  # (recounted anyway if the marks changed)
                    places[k:] = [i - 1 for i in islice(places, k, None)]
                    found.upto -= 1
                found.layout += 1
        self._layout += 1
        self._unread -= unread
        del self._visible[place], self._orders[place], self._unread_flags[place]
