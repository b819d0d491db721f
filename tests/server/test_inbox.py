"""The inbox of the in-process server, as the JupyterLab panel and the tabs of one user see it:
every filter and its refusal, paging, read/saved/dismissed state and its echo on every open
socket, key supersede, excludeUsers, scheduled and expired notifications, Idempotency-Key,
retention, topics and read receipts.

The helpers reach a server by its ``url`` and ``token``, so ``test_inbox_servers`` uses them on
real ``jupyter server`` processes too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import pytest
import pytest_asyncio
import redis.asyncio
from tornado.httpclient import AsyncHTTPClient

from jln_broker.protocol import Cursor, entry_id_key
from jln_server.wire import now_ms

from .clients import FRAME_TIMEOUT, Client, InProcess, messages
from .test_embedded_restart import call
from .test_rest import publish

BROADCAST = "jln:broadcast"
ADA = "jln:user:ada"
ML = "jln:group:ml"
WsClient = Callable[..., Any]
Query = Sequence[tuple[str, str]]

pytestmark = [pytest.mark.asyncio, pytest.mark.jln(user="ada")]


# --- reaching a server ------------------------------------------------------------------------

class Server(Protocol):
    """What ``call`` needs of a server: a JupyterProcess, or the in-process one."""

    @property
    def url(self) -> str: ...

    @property
    def token(self) -> str: ...


def item_path(notification_id: str) -> str:
    """``notifications/{id}``: the id URL-encoded whole, its ``:`` and ``/`` too."""
    return f"notifications/{quote(notification_id, safe='')}"


def with_query(path: str, query: Query | Mapping[str, str]) -> str:
    """``path?query``; a sequence of pairs may repeat a name (``type=error&type=warning``)."""
    return f"{path}?{urlencode(query)}" if query else path


async def page(server: Server, query: Query | Mapping[str, str] = ()) -> dict[str, Any]:
    """``GET notifications`` (the inbox mode), which must answer 200."""
    code, answer = await call(server, "GET", with_query("notifications", query))
    assert code == 200, answer
    return dict(answer)


async def count(server: Server, query: Query | Mapping[str, str] = ()) -> dict[str, Any]:
    code, answer = await call(server, "GET", with_query("notifications/count", query))
    assert code == 200, answer
    return dict(answer)


async def send(server: Server, message: str, **fields: Any) -> str:
    """Publish one notification through the server's REST ingest; its id."""
    code, answer = await call(server, "POST", "notifications", {"message": message, **fields})
    assert code == 201, answer
    [notification_id] = answer["ids"]
    return str(notification_id)


async def change(server: Server, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST notifications/state``, which must answer 200."""
    code, answer = await call(server, "POST", "notifications/state", dict(body))
    assert code == 200, answer
    return dict(answer)


async def held(server: InProcess, *ids: str) -> None:
    """Wait until the server's reader has read these entries: a REST answer (or an XADD)
    returns before the reader has them."""
    timeline = server.service.history.timeline
    deadline = time.monotonic() + FRAME_TIMEOUT
    while not all(timeline.get(i) for i in ids):
        assert time.monotonic() < deadline, f"the server never read {ids}"
        await asyncio.sleep(0.01)


def store(redis_url: str) -> Any:
    """An asyncio client of the test Redis, answering text."""
    return redis.asyncio.Redis.from_url(redis_url, decode_responses=True)


async def xadd_all(redis_url: str, rows: Sequence[tuple[str, str, Mapping[str, Any]]]
                   ) -> list[str]:
    """``XADD stream <entry id> field value ...`` for each row in one round trip, as any
    producer writing the flat form does; the notification ids."""
    async with store(redis_url) as client:
        pipe = client.pipeline(transaction=False)
        for stream, entry_id, fields in rows:
            pipe.xadd(stream, dict(fields), id=entry_id)
        written = await pipe.execute()
    return [f"{stream}/{entry}" for (stream, _, _), entry in zip(rows, written, strict=True)]


def created_at(notification_id: str) -> int:
    return entry_id_key(notification_id.rpartition("/")[2])[0]


def in_inbox_order(ids: Sequence[str]) -> list[str]:
    """Oldest first, as the inbox sorts what is not scheduled: entry id, then stream."""
    def key(notification_id: str) -> tuple[int, int, str]:
        stream, _, entry = notification_id.rpartition("/")
        return (*entry_id_key(entry), stream)
    return sorted(ids, key=key)


def listed(answer: Mapping[str, Any]) -> list[str]:
    return [item["id"] for item in answer["notifications"]]


# --- filters ----------------------------------------------------------------------------------

SEED: list[tuple[str, dict[str, str]]] = [
    (ADA, {"message": "Disk almost full", "title": "Storage", "type": "warning",
           "topic": "storage", "origin": "monitor"}),
    (ML, {"message": "Job failed", "title": "Training run", "type": "error", "topic": "training",
          "origin": "ci"}),
    (ML, {"message": "Job finished", "type": "success", "topic": "training", "origin": "ci"}),
    (BROADCAST, {"message": "New release", "type": "info", "origin": "release-bot"}),
    (ADA, {"message": "Backup running", "type": "in-progress", "topic": "storage",
           "origin": "monitor"}),
    (BROADCAST, {"message": "Maintenance tonight", "title": "DISK swap", "type": "default"}),
    (ADA, {"message": "Quota exceeded", "type": "error", "topic": "storage", "origin": "monitor"}),
]
"""Seven notifications one second apart, oldest first; ``READ`` and ``SAVED`` are marked."""
READ = {1, 3}
SAVED = {0, 1}


@dataclass(frozen=True)
class At:
    """The ``createdAt`` of seed row ``row``, as ms, or as ISO 8601 at a UTC ``offset`` in
    hours (``Z`` for 0)."""

    row: int
    offset: int | None = None

    def text(self, ids: Sequence[str]) -> str:
        ms = created_at(ids[self.row])
        if self.offset is None:
            return str(ms)
        zone = timezone(timedelta(hours=self.offset))
        iso = datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="milliseconds")
        return iso.replace("+00:00", "Z")


@pytest_asyncio.fixture
async def seeded(server: InProcess, redis_url: str) -> list[str]:
    """``SEED`` written to ada's, ml's and the broadcast stream, read by the server, with
    ``READ`` marked read and ``SAVED`` saved; their ids, oldest first."""
    base = now_ms() - 60_000
    ids = await xadd_all(redis_url, [(stream, f"{base + row * 1000}-0", fields)
                                     for row, (stream, fields) in enumerate(SEED)])
    await held(server, *ids)
    await change(server, {"ids": [ids[row] for row in READ], "read": True})
    await change(server, {"ids": [ids[row] for row in SAVED], "saved": True})
    return ids


NEWEST = [6, 5, 4, 3, 2, 1, 0]


@pytest.mark.jln(user="ada", groups=["ml"])
@pytest.mark.parametrize(("query", "shown"), [
    pytest.param([("search", "disk")], [5, 0], id="search-message-and-title-any-case"),
    pytest.param([("search", "JOB F")], [2, 1], id="search-across-a-space"),
    pytest.param([("search", "training run")], [1], id="search-title-only"),
    pytest.param([("type", "error")], [6, 1], id="type"),
    pytest.param([("type", "error"), ("type", "warning")], [6, 1, 0], id="type-repeated"),
    pytest.param([("minType", "warning")], [6, 1, 0], id="minType-warning"),
    pytest.param([("minType", "info")], [6, 3, 2, 1, 0], id="minType-info-is-success-too"),
    pytest.param([("minType", "in-progress")], NEWEST, id="minType-lowest"),
    pytest.param([("topic", "storage")], [6, 4, 0], id="topic"),
    pytest.param([("origin", "ci")], [2, 1], id="origin"),
    pytest.param([("read", "true")], [3, 1], id="read"),
    pytest.param([("read", "false")], [6, 5, 4, 2, 0], id="unread"),
    pytest.param([("saved", "true")], [1, 0], id="saved"),
    pytest.param([("saved", "false")], [6, 5, 4, 3, 2], id="not-saved"),
    pytest.param([("createdAfter", At(4))], [6, 5], id="createdAfter-ms-exclusive"),
    pytest.param([("createdBefore", At(2))], [1, 0], id="createdBefore-ms-exclusive"),
    pytest.param([("createdAfter", At(4, 0))], [6, 5], id="createdAfter-iso-Z"),
    pytest.param([("createdBefore", At(2, 2))], [1, 0], id="createdBefore-iso-plus-2h"),
    pytest.param([("createdAfter", At(1)), ("createdBefore", At(5, -5))], [4, 3, 2],
                 id="created-between"),
    pytest.param([("scope", "user")], [6, 4, 0], id="scope-user"),
    pytest.param([("scope", "group")], [2, 1], id="scope-group"),
    pytest.param([("scope", "broadcast")], [5, 3], id="scope-broadcast"),
    pytest.param([("scope", "all")], NEWEST, id="scope-all"),
    pytest.param([("order", "oldest")], NEWEST[::-1], id="order-oldest"),
    pytest.param([("order", "oldest"), ("topic", "storage")], [0, 4, 6],
                 id="order-oldest-filtered"),
    pytest.param([("type", "error"), ("read", "false")], [6], id="type-unread"),
    pytest.param([("topic", "storage"), ("minType", "warning"), ("search", "QUOTA")], [6],
                 id="topic-minType-search"),
    pytest.param([("scope", "group"), ("read", "false"), ("saved", "false")], [2],
                 id="scope-unread-unsaved"),
    pytest.param([("origin", "monitor"), ("type", "warning"), ("type", "in-progress"),
                  ("createdBefore", At(6, 0))], [4, 0], id="origin-types-createdBefore"),
    pytest.param([("saved", "true"), ("read", "true")], [1], id="saved-read"),
])
async def test_the_inbox_lists_what_its_filters_admit_and_counts_it(
        server: InProcess, seeded: list[str], query: list[tuple[str, Any]],
        shown: list[int]) -> None:
    answer = await page(server, [(name, value.text(seeded) if isinstance(value, At) else value)
                                 for name, value in query])

    assert listed(answer) == [seeded[row] for row in shown]
    assert (answer["totalCount"], answer["unreadCount"]) == (len(shown),
                                                             len(set(shown) - READ))
    assert [item["read"] for item in answer["notifications"]] == [row in READ for row in shown]
    assert [item["saved"] for item in answer["notifications"]] == [row in SAVED for row in shown]
    assert answer["next"] is None


@pytest.mark.jln(user="ada", groups=["ml"])
@pytest.mark.parametrize(("query", "expected"), [
    pytest.param([], {"unread": 5, "total": 7}, id="everything"),
    pytest.param([("type", "error"), ("type", "warning")], {"unread": 2, "total": 3},
                 id="types"),
    pytest.param([("scope", "broadcast"), ("read", "false")], {"unread": 1, "total": 1},
                 id="scope-unread"),
])
async def test_the_count_endpoint_counts_under_the_same_filters(
        server: InProcess, seeded: list[str], query: Query, expected: dict[str, int]) -> None:
    assert await count(server, query) == expected


@pytest.mark.parametrize(("query", "field"), [
    pytest.param([("limit", "0")], "limit", id="limit-0"),
    pytest.param([("limit", "1001")], "limit", id="limit-1001"),
    pytest.param([("type", "fatal")], "type", id="type"),
    pytest.param([("type", "error"), ("type", "Error")], "type", id="type-repeated"),
    pytest.param([("minType", "severe")], "minType", id="minType"),
    pytest.param([("read", "maybe")], "read", id="read"),
    pytest.param([("saved", "yes")], "saved", id="saved"),
    pytest.param([("createdAfter", "yesterday")], "createdAfter", id="createdAfter"),
    pytest.param([("createdBefore", "2024-01-01T00:00:00")], "createdBefore",
                 id="createdBefore-without-zone"),
    pytest.param([("scope", "team")], "scope", id="scope"),
    pytest.param([("search", "x" * 201)], "search", id="search-201-chars"),
    pytest.param([("topic", "a"), ("topic", "b")], "topic", id="topic-twice"),
    pytest.param([("order", "sideways")], "order", id="order"),
    pytest.param([("cursor", "not-a-cursor")], "cursor", id="cursor"),
    pytest.param([("cursor", Cursor({BROADCAST: "1-0"}).encode())], "cursor",
                 id="live-cursor-as-page-cursor"),
    pytest.param([("colour", "red")], "colour", id="unknown-argument"),
    pytest.param([("since", Cursor({BROADCAST: "0-0"}).encode()), ("type", "error")], "type",
                 id="filter-on-the-poll-fallback"),
])
async def test_a_bad_inbox_query_is_a_400_naming_the_field(
        server: InProcess, query: Query, field: str) -> None:
    code, answer = await call(server, "GET", with_query("notifications", query))

    assert (code, answer["field"]) == (400, field)
    assert answer["error"].startswith(f"{field}: ")


async def test_the_token_may_travel_in_the_query(server: InProcess) -> None:
    await held(server, await send(server, "hello"))

    response = await AsyncHTTPClient().fetch(  # no Authorization header
        server.url + with_query("jln/api/notifications", {"token": server.token}),
        raise_error=False, request_timeout=FRAME_TIMEOUT)

    assert response.code == 200
    assert messages(json.loads(response.body)["notifications"]) == ["hello"]


@pytest.mark.parametrize(("query", "field"), [
    pytest.param([("minType", "loud")], "minType", id="bad-filter"),
    pytest.param([("limit", "5")], "limit", id="paging-argument"),
])
async def test_a_bad_count_query_is_a_400_naming_the_field(
        server: InProcess, query: Query, field: str) -> None:
    code, answer = await call(server, "GET", with_query("notifications/count", query))

    assert (code, answer["field"]) == (400, field)


# --- paging -----------------------------------------------------------------------------------

async def twenty(server: InProcess, redis_url: str) -> list[str]:
    """Twenty notifications, half broadcast, half to ada, written in one go (so many share
    a millisecond), the first five read; their ids in inbox order."""
    ids = await xadd_all(redis_url, [(BROADCAST if n % 2 else ADA, "*", {"message": f"n{n:02}"})
                                     for n in range(20)])
    await held(server, *ids)
    await change(server, {"ids": ids[:5], "read": True})
    return in_inbox_order(ids)


@pytest.mark.parametrize("order", ["newest", "oldest"])
async def test_paging_by_three_lists_everything_once_and_ends_with_next_null(
        server: InProcess, redis_url: str, order: str) -> None:
    ids = await twenty(server, redis_url)

    pages: list[dict[str, Any]] = []
    cursor: str | None = ""
    while cursor is not None and len(pages) < 20:
        query = {"limit": "3", "order": order, **({"cursor": cursor} if cursor else {})}
        pages.append(await page(server, query))
        cursor = pages[-1]["next"]

    assert [i for p in pages for i in listed(p)] == (ids[::-1] if order == "newest" else ids)
    assert [len(p["notifications"]) for p in pages] == [3] * 6 + [2]
    assert {(p["totalCount"], p["unreadCount"]) for p in pages} == {(20, 15)}


@pytest.mark.parametrize("order", ["newest", "oldest"])
async def test_paging_stays_exact_while_notifications_arrive_between_pages(
        server: InProcess, redis_url: str, order: str) -> None:
    ids = await twenty(server, redis_url)

    pages: list[dict[str, Any]] = []
    arrived: list[str] = []
    cursor: str | None = ""
    while cursor is not None and len(pages) < 30:
        query = {"limit": "3", "order": order, **({"cursor": cursor} if cursor else {})}
        pages.append(await page(server, query))
        cursor = pages[-1]["next"]
        arrived.append(await send(server, f"late {len(arrived)}"))
        await held(server, arrived[-1])

    seen = [i for p in pages for i in listed(p)]
    if order == "newest":  # what arrives is newer than the first page: not in later ones
        assert seen == ids[::-1]
    else:  # what arrives joins the end, and paging on reaches it
        assert seen == ids + arrived[:len(seen) - len(ids)]
        assert len(seen) > len(ids)
    assert [p["totalCount"] for p in pages] == [20 + n for n in range(len(pages))]
    assert [p["unreadCount"] for p in pages] == [15 + n for n in range(len(pages))]


# --- state ------------------------------------------------------------------------------------

async def three_for_ada(server: InProcess) -> list[str]:
    ids = [await send(server, f"note {n}", users=["ada"]) for n in range(3)]
    await held(server, *ids)
    return ids


@pytest.mark.parametrize(("before", "body", "marks", "unread"), [
    pytest.param(None, {"read": True}, (True, False, "now"), 2, id="read"),
    pytest.param({"read": True}, {"read": False}, (False, False, None), 3, id="unread"),
    pytest.param(None, {"saved": True}, (False, True, None), 3, id="saved"),
    pytest.param({"saved": True, "read": True}, {"saved": False}, (True, False, "earlier"), 2,
                 id="unsaved"),
    pytest.param(None, {"read": True, "saved": True}, (True, True, "now"), 2,
                 id="read-and-saved"),
])
async def test_a_state_change_is_answered_and_shown_on_the_item_and_in_the_counts(
        server: InProcess, before: dict[str, bool] | None, body: dict[str, bool],
        marks: tuple[bool, bool, str | None], unread: int) -> None:
    first, *_ = await three_for_ada(server)
    if before:
        await change(server, {"ids": [first], **before})
    started = now_ms()

    answer = await change(server, {"ids": [first], **body})

    code, item = await call(server, "GET", item_path(first))
    assert answer == {"updated": 1, "unread": unread}
    assert code == 200, item
    read, saved, read_at = marks
    assert (item["id"], item["read"], item["saved"]) == (first, read, saved)
    if read_at is None:
        assert item["readAt"] is None
    elif read_at == "now":
        assert started <= item["readAt"] <= now_ms()
    else:
        assert item["readAt"] <= started
    assert await count(server) == {"unread": unread, "total": 3}
    [shown] = [i for i in (await page(server))["notifications"] if i["id"] == first]
    assert shown == item


async def test_marking_unread_keeps_a_zero_in_the_read_hash(server: InProcess,
                                                             redis_url: str) -> None:
    first, *_ = await three_for_ada(server)
    await change(server, {"ids": [first], "read": True})

    await change(server, {"ids": [first], "read": False})

    async with store(redis_url) as client:
        assert await client.hget("jln:inbox:ada:read", first) == "0"


async def test_a_change_that_changes_nothing_updates_nothing_and_tells_no_tab(
        server: InProcess, ws_client: WsClient) -> None:
    first, *_ = await three_for_ada(server)
    await change(server, {"ids": [first], "read": True})
    tab: Client = await ws_client()
    await tab.hello()

    answer = await change(server, {"ids": [first], "read": True})

    assert answer == {"updated": 0, "unread": 2}
    await tab.nothing_more(0.3)


@pytest.mark.parametrize("how", ["state", "delete"])
async def test_a_dismissed_notification_leaves_the_inbox_and_is_a_404_after(
        server: InProcess, redis_url: str, how: str) -> None:
    first, second, third = await three_for_ada(server)

    if how == "state":
        answer = await change(server, {"ids": [second], "dismissed": True})
    else:
        code, answer = await call(server, "DELETE", item_path(second))
        assert code == 200, answer

    assert answer == {"updated": 1, "unread": 2}
    code, gone = await call(server, "GET", item_path(second))
    assert (code, gone["field"]) == (404, "id")
    code, again = await call(server, "DELETE", item_path(second))
    assert (code, again["field"]) == (404, "id")
    assert listed(await page(server)) == [third, first]
    assert await count(server) == {"unread": 2, "total": 2}
    async with store(redis_url) as client:
        assert await client.hexists("jln:inbox:ada:dismissed", second)
        assert int(await client.hget("jln:inbox:ada:read", second)) > 0  # dismissing reads it


async def test_mark_all_read_marks_every_unread_notification(server: InProcess) -> None:
    first, *_ = await three_for_ada(server)
    await change(server, {"ids": [first], "read": True})

    answer = await change(server, {"all": True, "read": True})

    assert answer == {"updated": 2, "unread": 0}
    assert [item["read"] for item in (await page(server))["notifications"]] == [True] * 3


@pytest.mark.parametrize(("filters", "changed"), [
    pytest.param({"type": ["error"]}, {"disk full", "job failed"}, id="type"),
    pytest.param({"search": "DISK", "minType": "warning"}, {"disk full", "disk news"},
                 id="search-minType"),
    pytest.param({"createdAfter": 0, "read": False, "scope": "user"}, {"disk full", "job failed",
                 "backup done"}, id="scope-user-unread"),
])
async def test_mark_all_read_under_filters_changes_only_what_they_admit(
        server: InProcess, filters: dict[str, Any], changed: set[str]) -> None:
    ids = [await send(server, "disk full", type="error", users=["ada"]),
           await send(server, "job failed", type="error", users=["ada"]),
           await send(server, "disk check", type="info", users=["ada"]),
           await send(server, "backup done", type="success", users=["ada"]),
           await send(server, "disk news", type="warning")]
    await held(server, *ids)
    await change(server, {"ids": [ids[2]], "read": True})

    answer = await change(server, {"all": True, "read": True, "filters": filters})

    unread = {item["message"] for item in (await page(server, {"read": "false"}))[
        "notifications"]}
    assert answer == {"updated": len(changed), "unread": 4 - len(changed)}
    assert unread == {"disk full", "job failed", "backup done", "disk news"} - changed


async def test_ids_not_in_the_inbox_are_ignored(server: InProcess) -> None:
    first, second, _ = await three_for_ada(server)
    await change(server, {"ids": [second], "dismissed": True})

    answer = await change(server, {"ids": [f"{BROADCAST}/1-0", "jln:user:bob/1-0", second,
                                           first, "nowhere/1-0"], "read": True})

    assert answer == {"updated": 1, "unread": 1}


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"ids": [], "read": True}, "ids", id="ids-empty"),
    pytest.param({"ids": "jln:broadcast/1-0", "read": True}, "ids", id="ids-not-a-list"),
    pytest.param({"ids": ["jln:broadcast/1-0", 7], "read": True}, "ids", id="ids-not-text"),
    pytest.param({"ids": ["jln:broadcast/1-0", "nonsense"], "read": True}, "ids[1]",
                 id="ids-not-an-id"),
    pytest.param({"ids": [f"jln:broadcast/{n}-0" for n in range(1001)], "read": True}, "ids",
                 id="ids-over-1000"),
    pytest.param({"ids": ["jln:broadcast/1-0"]}, "read", id="no-change"),
    pytest.param({"ids": ["jln:broadcast/1-0"], "read": "yes"}, "read", id="read-not-bool"),
    pytest.param({"ids": ["jln:broadcast/1-0"], "saved": 1}, "saved", id="saved-not-bool"),
    pytest.param({"ids": ["jln:broadcast/1-0"], "dismissed": None}, "dismissed",
                 id="dismissed-null"),
    pytest.param({"all": False, "read": True}, "all", id="all-false"),
    pytest.param({"all": True, "ids": ["jln:broadcast/1-0"], "read": True}, "all",
                 id="all-with-ids"),
    pytest.param({"ids": ["jln:broadcast/1-0"], "read": True, "filters": {}}, "filters",
                 id="filters-without-all"),
    pytest.param({"all": True, "read": True, "filters": []}, "filters", id="filters-a-list"),
    pytest.param({"all": True, "read": True, "filters": {"type": "error"}}, "filters.type",
                 id="filters-type-not-a-list"),
    pytest.param({"all": True, "read": True, "filters": {"minType": "loud"}},
                 "filters.minType", id="filters-bad-minType"),
    pytest.param({"all": True, "read": True, "filters": {"read": "false"}}, "filters.read",
                 id="filters-read-as-text"),
    pytest.param({"all": True, "read": True, "filters": {"createdAfter": "soon"}},
                 "filters.createdAfter", id="filters-bad-time"),
    pytest.param({"all": True, "read": True, "filters": {"colour": "red"}}, "filters.colour",
                 id="filters-unknown"),
    pytest.param({"ids": ["jln:broadcast/1-0"], "read": True, "colour": "red"}, "colour",
                 id="unknown-field"),
])
async def test_a_bad_state_body_is_a_400_naming_the_field(
        server: InProcess, body: dict[str, Any], field: str) -> None:
    code, answer = await call(server, "POST", "notifications/state", body)

    assert (code, answer["field"]) == (400, field)


async def test_a_state_body_that_is_not_a_json_object_is_a_400(server: InProcess) -> None:
    code, answer = await call(server, "POST", "notifications/state", ["jln:broadcast/1-0"])

    assert (code, answer["field"]) == (400, "body")


async def test_an_unknown_id_is_a_404_naming_the_id(server: InProcess) -> None:
    code, answer = await call(server, "GET", item_path(f"{ADA}/1-0"))

    assert (code, answer["field"]) == (404, "id")


# --- what the inbox holds ---------------------------------------------------------------------

@pytest.fixture
def backlog(redis_server: Any, redis_url: str) -> list[str]:
    """A broadcast and a message to ada written before ada's server first reads the streams
    (ask for it before ``server``)."""
    return [f"{stream}/{redis_server.cli('XADD', stream, '*', 'message', text).strip()}"
            for stream, text in ((BROADCAST, "Old announcement"), (ADA, "Old message to ada"))]


async def test_a_broadcast_from_before_the_owner_first_read_it_counts_as_read(
        backlog: list[str], server: InProcess) -> None:
    announcement, message = backlog

    answer = await page(server)

    assert [(i["id"], i["read"], i["readAt"]) for i in answer["notifications"]] == [
        (message, False, None), (announcement, True, None)]
    assert (answer["totalCount"], answer["unreadCount"]) == (2, 1)
    _, receipts = await call(server, "GET", f"{item_path(announcement)}/receipts")
    assert receipts["read"] == [{"user": "ada", "readAt": None}]


async def test_a_newer_notification_with_the_same_key_and_origin_replaces_it_unread(
        server: InProcess) -> None:
    first = await send(server, "Build 7 running", key="build-7", origin="ci", type="in-progress")
    await held(server, first)
    await change(server, {"ids": [first], "read": True})

    second = await send(server, "Build 7 passed", key="build-7", origin="ci", type="success")
    await held(server, second)

    answer = await page(server)
    assert [(i["id"], i["message"], i["read"]) for i in answer["notifications"]] == [
        (second, "Build 7 passed", False)]
    assert (answer["totalCount"], answer["unreadCount"]) == (1, 1)
    assert (await call(server, "GET", item_path(first)))[0] == 404


async def test_the_same_key_from_another_origin_keeps_both(server: InProcess) -> None:
    first = await send(server, "Deploy started", key="deploy", origin="ci")

    second = await send(server, "Deploy started", key="deploy", origin="cd")
    await held(server, first, second)

    answer = await page(server)
    assert listed(answer) == [second, first]
    assert answer["totalCount"] == 2


@pytest.mark.jln(user="ada", groups=["ml"])
async def test_a_group_notification_excluding_the_owner_is_nowhere_for_them(
        server: InProcess, ws_client: WsClient) -> None:
    tab: Client = await ws_client()
    cursor = (await tab.hello())["cursor"]

    hidden = await send(server, "Ada's leaving party", groups=["ml"], excludeUsers=["ada"])
    shown = await send(server, "Lunch is served")
    await held(server, hidden, shown)

    pushed, _, _ = await tab.notifications(1)
    await tab.nothing_more(0.3)
    polled = await page(server, {"since": cursor})
    assert messages(pushed) == ["Lunch is served"]
    assert listed(await page(server)) == [shown]
    assert await count(server) == {"unread": 1, "total": 1}
    assert messages(polled["notifications"]) == ["Lunch is served"]
    assert (await call(server, "GET", item_path(hidden)))[0] == 404


async def test_an_expired_notification_is_neither_listed_nor_pushed(
        server: InProcess, ws_client: WsClient) -> None:
    tab: Client = await ws_client()
    await tab.hello()

    stale = await send(server, "Meeting moved", expiresAt=now_ms() - 60_000)
    fresh = await send(server, "Meeting now")
    await held(server, stale, fresh)

    pushed, _, _ = await tab.notifications(1)
    await tab.nothing_more(0.3)
    assert messages(pushed) == ["Meeting now"]
    assert listed(await page(server)) == [fresh]
    assert (await call(server, "GET", item_path(stale)))[0] == 404


async def test_a_scheduled_notification_is_pushed_live_when_due_and_listed_at_that_moment(
        server: InProcess, ws_client: WsClient) -> None:
    tab: Client = await ws_client()
    await tab.hello()
    due = now_ms() + 1500

    scheduled = await send(server, "Stand-up now", notBefore=due)
    later = await send(server, "Coffee machine fixed")
    await held(server, scheduled, later)

    early, _, _ = await tab.notifications(1)
    assert messages(early) == ["Coffee machine fixed"]
    assert listed(await page(server)) == [later]
    assert (await call(server, "GET", item_path(scheduled)))[0] == 404
    await tab.nothing_more(max(0.0, (due - now_ms()) / 1000 - 0.3))
    pushed, _, _ = await tab.notifications(1, timeout=5)
    assert now_ms() >= due
    assert [(i["id"], i["notBefore"]) for i in pushed] == [(scheduled, due)]
    assert listed(await page(server)) == [scheduled, later]  # sorted where it fell due
    assert (await call(server, "GET", item_path(scheduled)))[0] == 200


async def test_a_tab_resuming_after_a_scheduled_one_fell_due_gets_it_once_on_replay(
        server: InProcess, ws_client: WsClient) -> None:
    first: Client = await ws_client()
    await first.hello()
    due = now_ms() + 1500
    scheduled = await send(server, "Stand-up now", notBefore=due)
    await send(server, "Coffee machine fixed")
    _, cursor, _ = await first.notifications(1)  # past both entries, taken before it was due
    first.close()
    await asyncio.sleep(max(0.0, (due - now_ms()) / 1000) + 0.3)

    again: Client = await ws_client(cursor=cursor)
    await again.hello()

    replayed, _, _ = await again.notifications(1)
    await again.nothing_more(0.5)
    assert [i["id"] for i in replayed] == [scheduled]


async def test_the_same_idempotency_key_publishes_once(jp_fetch: Any, server: InProcess,
                                                       redis_url: str) -> None:
    body = {"message": "Nightly backup done"}
    first = await publish(jp_fetch, body, headers={"Idempotency-Key": "backup-2024-06-01"})

    second = await publish(jp_fetch, body, headers={"Idempotency-Key": "backup-2024-06-01"})

    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    async with store(redis_url) as client:
        assert await client.xlen(BROADCAST) == 1


async def test_different_idempotency_keys_publish_twice(jp_fetch: Any, server: InProcess,
                                                        redis_url: str) -> None:
    body = {"message": "Nightly backup done"}
    first = await publish(jp_fetch, body, headers={"Idempotency-Key": "backup-2024-06-01"})

    second = await publish(jp_fetch, body, headers={"Idempotency-Key": "backup-2024-06-02"})

    assert first[1] != second[1]
    async with store(redis_url) as client:
        assert await client.xlen(BROADCAST) == 2


RETENTION_SECONDS = 4.0


@pytest.mark.timeout(60)
@pytest.mark.jln(user="ada", retention_days=RETENTION_SECONDS / 86_400,
                 retention_sweep_interval=0.2)
async def test_retention_trims_old_entries_from_redis_and_the_inbox_with_their_state(
        server: InProcess, redis_url: str) -> None:
    now = now_ms()
    _, aging, fresh = await xadd_all(redis_url, [
        (BROADCAST, f"{now - 40 * 86_400_000}-0", {"message": "ancient"}),
        (BROADCAST, f"{now - 1500}-0", {"message": "aging"}),
        (BROADCAST, "*", {"message": "fresh"})])
    await held(server, aging, fresh)
    marked = await change(server, {"ids": [aging, fresh], "read": True, "saved": True})
    assert marked["updated"] == 2  # "ancient" may already be gone, or not yet

    async with store(redis_url) as client:
        deadline = time.monotonic() + RETENTION_SECONDS + 5
        while (await client.xlen(BROADCAST) > 1 or await client.hlen("jln:inbox:ada:read") > 1
               ) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        kept = [entry for entry, _ in await client.xrange(BROADCAST)]
        read = await client.hkeys("jln:inbox:ada:read")
        saved = await client.hkeys("jln:inbox:ada:saved")

    assert [f"{BROADCAST}/{entry}" for entry in kept] == [fresh]
    assert listed(await page(server)) == [fresh]
    assert (await call(server, "GET", item_path(aging)))[0] == 404
    assert (read, saved) == ([fresh], [fresh])


# --- every tab of the user --------------------------------------------------------------------

async def test_the_hello_says_the_protocol_version_and_the_unread_count(
        server: InProcess, ws_client: WsClient) -> None:
    first, *_ = await three_for_ada(server)
    await change(server, {"ids": [first], "read": True})

    tab: Client = await ws_client()
    hello = await tab.hello()

    assert (hello["version"], hello["unread"], hello["user"]) == (1, 2, "ada")


@pytest.mark.parametrize("how", ["ids", "all", "delete"])
async def test_a_state_change_reaches_every_open_tab_of_the_user(
        server: InProcess, ws_client: WsClient, how: str) -> None:
    first, second, third = await three_for_ada(server)
    tabs: list[Client] = [await ws_client(), await ws_client()]
    for tab in tabs:
        await tab.hello()

    if how == "ids":
        await change(server, {"ids": [second, first], "read": True})
        expected = {"type": "state", "ids": sorted([first, second]), "read": True, "unread": 1}
    elif how == "all":
        await change(server, {"all": True, "saved": True})
        expected = {"type": "state", "all": True, "ids": sorted([first, second, third]),
                    "saved": True, "unread": 3}
    else:
        await call(server, "DELETE", item_path(second))
        expected = {"type": "state", "ids": [second], "dismissed": True, "unread": 2}

    for tab in tabs:
        assert await tab.frame() == expected
        await tab.nothing_more(0.2)


@pytest.mark.parametrize("how", ["socket", "poll"])
async def test_what_a_tab_catches_up_on_carries_its_read_state(
        server: InProcess, ws_client: WsClient, how: str) -> None:
    first: Client = await ws_client()
    cursor = (await first.hello())["cursor"]
    first.close()
    seen, unseen = await send(server, "seen elsewhere"), await send(server, "not yet")
    await held(server, seen, unseen)
    await change(server, {"ids": [seen], "read": True, "saved": True})

    if how == "socket":
        again: Client = await ws_client(cursor=cursor)
        await again.hello()
        replayed, _, _ = await again.notifications(2)
    else:
        replayed = (await page(server, {"since": cursor}))["notifications"]

    assert [(i["id"], i["read"], i["saved"], i["readAt"] is not None) for i in replayed] == [
        (seen, True, True, True), (unseen, False, False, False)]


async def read_elsewhere(redis_url: str, notification_id: str, at: int) -> None:
    """Mark it read as another server of ada does (a second named server under JupyterHub):
    the read hash and the version counter, in one transaction."""
    async with store(redis_url) as client:
        pipe = client.pipeline(transaction=True)
        pipe.hset("jln:inbox:ada:read", notification_id, at)
        pipe.incr("jln:inbox:ada:version")
        await pipe.execute()


@pytest.mark.parametrize("how", ["hello", "socket", "poll"])
async def test_a_tab_catching_up_sees_what_another_server_of_the_user_marked_read(
        server: InProcess, ws_client: WsClient, redis_url: str, how: str) -> None:
    first: Client = await ws_client()
    cursor = (await first.hello())["cursor"]
    first.close()
    seen, unseen = await send(server, "read on the other server"), await send(server, "not yet")
    await held(server, seen, unseen)
    assert (await page(server))["unreadCount"] == 2  # this server's copy of the state is made
    await read_elsewhere(redis_url, seen, 1_700_000_000_000)

    if how == "poll":
        replayed = (await page(server, {"since": cursor}))["notifications"]
    else:
        again: Client = await ws_client(cursor=cursor)
        hello = await again.hello()
        replayed, _, _ = await again.notifications(2)

    if how == "hello":
        assert hello["unread"] == 1
    else:
        assert [(i["id"], i["read"], i["readAt"]) for i in replayed] == [
            (seen, True, 1_700_000_000_000), (unseen, False, None)]


# --- topics and receipts ----------------------------------------------------------------------

async def test_topics_and_origins_are_counted_with_their_unread(server: InProcess) -> None:
    ids = [await send(server, "disk full", topic="storage", origin="monitor"),
           await send(server, "disk ok", topic="storage", origin="monitor"),
           await send(server, "quota", topic="storage"),
           await send(server, "job failed", topic="training", origin="ci"),
           await send(server, "lint", origin="ci"),
           await send(server, "old news", topic="archive", origin="press")]
    await held(server, *ids)
    await change(server, {"ids": [ids[1]], "read": True})
    await change(server, {"ids": [ids[5]], "dismissed": True})

    code, topics = await call(server, "GET", "topics")

    assert code == 200
    assert topics == {
        "topics": [{"name": "storage", "count": 3, "unread": 2},
                   {"name": "training", "count": 1, "unread": 1}],
        "origins": [{"name": "ci", "count": 2, "unread": 2},
                    {"name": "monitor", "count": 2, "unread": 1}]}


async def test_receipts_list_the_owner_as_reader_once_they_read_a_broadcast(
        server: InProcess, redis_url: str) -> None:
    async with store(redis_url) as client:
        registry = await client.smembers("jln:readers:broadcast")
        await client.sadd("jln:readers:broadcast", "bob")  # bob's server reads it too
    notification_id = await send(server, "Holiday on Monday")
    await held(server, notification_id)
    started = now_ms()
    await change(server, {"ids": [notification_id], "read": True})

    code, receipts = await call(server, "GET", f"{item_path(notification_id)}/receipts")

    assert registry == {"ada"}
    assert code == 200, receipts
    [ada] = receipts["read"]
    assert receipts == {"id": notification_id, "read": [{"user": "ada", "readAt": ada["readAt"]}],
                        "unread": [{"user": "bob"}]}
    assert started <= ada["readAt"] <= now_ms()


async def test_receipts_of_an_unknown_notification_are_a_404_naming_the_id(
        server: InProcess) -> None:
    code, answer = await call(server, "GET", f"{item_path(f'{BROADCAST}/1-0')}/receipts")

    assert (code, answer["field"]) == (404, "id")
