"""Pinned notices through the in-process server: ``pinned`` and ``requireAck`` from the REST
ingest and from redis-cli's flat fields to what tabs receive, the ``pinned`` filter, the
acknowledgement (marking one read by its id) as the read receipt, and the refusals: a pinned
notification is never dismissed, and mark-all never acknowledges."""

from __future__ import annotations

from typing import Any

import pytest

from .clients import Client, InProcess
from .test_embedded_restart import call
from .test_inbox import (
    ADA,
    WsClient,
    change,
    count,
    held,
    item_path,
    listed,
    page,
    send,
    xadd_all,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.jln(user="ada")]


def pins(item: dict[str, Any]) -> tuple[Any, Any]:
    """What a tab is told: absent when false."""
    return item.get("pinned"), item.get("requireAck")


async def plain_pinned_asking(server: InProcess) -> list[str]:
    """A plain, a pinned and an acknowledgement-asking notification for ada, held."""
    ids = [await send(server, "plain", users=["ada"]),
           await send(server, "maintenance tonight", users=["ada"], pinned=True, key="maint"),
           await send(server, "read the policy", users=["ada"], requireAck=True)]
    await held(server, *ids)
    return ids


async def test_pins_travel_from_the_rest_ingest_to_every_tab_only_when_true(
        server: InProcess, ws_client: WsClient) -> None:
    tab: Client = await ws_client()
    await tab.hello()

    await plain_pinned_asking(server)

    pushed, _, _ = await tab.notifications(3)
    assert [pins(i) for i in pushed] == [(None, None), (True, None), (True, True)]
    assert [pins(i) for i in (await page(server))["notifications"]] == [
        (True, True), (True, None), (None, None)]


async def test_redis_cli_flat_fields_pin(server: InProcess, redis_url: str) -> None:
    ids = await xadd_all(redis_url, [
        (ADA, "*", {"message": "banner", "pinned": "1"}),
        (ADA, "*", {"message": "ack me", "requireAck": "true"}),
        (ADA, "*", {"message": "not pinned", "pinned": "0"})])
    await held(server, *ids)

    items = (await page(server, {"order": "oldest"}))["notifications"]

    assert [(i["message"], *pins(i)) for i in items] == [
        ("banner", True, None), ("ack me", True, True), ("not pinned", None, None)]
    assert all("data" not in i for i in items)


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"pinned": "yes"}, "pinned", id="pinned-text"),
    pytest.param({"requireAck": 1}, "requireAck", id="requireAck-number"),
    pytest.param({"pinned": False, "requireAck": True}, "pinned", id="ack-unpinned"),
])
async def test_a_bad_pin_is_a_400_naming_the_field(server: InProcess, body: dict[str, Any],
                                                   field: str) -> None:
    code, answer = await call(server, "POST", "notifications", {"message": "m", **body})

    assert (code, answer["field"]) == (400, field)


@pytest.mark.parametrize(("query", "shown"), [
    pytest.param({"pinned": "true"}, [2, 1], id="pinned"),
    pytest.param({"pinned": "false"}, [0], id="not-pinned"),
    pytest.param({"pinned": "true", "read": "false", "search": "policy"}, [2],
                 id="pinned-with-others"),
])
async def test_the_pinned_filter_lists_and_counts_the_banners(
        server: InProcess, query: dict[str, str], shown: list[int]) -> None:
    ids = await plain_pinned_asking(server)

    answer = await page(server, query)

    assert listed(answer) == [ids[row] for row in shown]
    assert await count(server, query) == {"unread": len(shown), "total": len(shown)}


async def test_a_pinned_filter_that_is_not_a_boolean_is_a_400(server: InProcess) -> None:
    code, answer = await call(server, "GET", "notifications?pinned=1")

    assert (code, answer["field"]) == (400, "pinned")


async def test_acknowledging_by_id_is_the_read_receipt_and_mark_all_is_not(
        server: InProcess) -> None:
    *_, asking = await plain_pinned_asking(server)
    receipts = f"{item_path(asking)}/receipts"

    everything = await change(server, {"all": True, "read": True})
    _, before = await call(server, "GET", receipts)
    acknowledged = await change(server, {"ids": [asking], "read": True})
    _, after = await call(server, "GET", receipts)

    assert everything == {"updated": 2, "unread": 1}
    assert before == {"id": asking, "read": [], "unread": [{"user": "ada"}]}
    assert acknowledged == {"updated": 1, "unread": 0}
    assert [r["user"] for r in after["read"]] == ["ada"] and after["unread"] == []


async def test_mark_all_unread_leaves_an_acknowledgement_standing(server: InProcess) -> None:
    _, pinned, asking = await plain_pinned_asking(server)
    await change(server, {"ids": [pinned, asking], "read": True})

    answer = await change(server, {"all": True, "read": False, "filters": {"pinned": True}})

    assert answer == {"updated": 1, "unread": 2}
    _, item = await call(server, "GET", item_path(asking))
    assert item["read"] is True


@pytest.mark.parametrize("how", ["delete", "state"])
async def test_dismissing_a_pinned_one_by_id_is_a_409_naming_the_id(
        server: InProcess, how: str) -> None:
    plain, pinned, _ = await plain_pinned_asking(server)

    if how == "delete":
        code, answer = await call(server, "DELETE", item_path(pinned))
    else:
        code, answer = await call(server, "POST", "notifications/state",
                                  {"ids": [plain, pinned], "dismissed": True})

    assert (code, answer["field"]) == (409, "id")
    assert pinned in answer["error"]
    assert len(listed(await page(server))) == 3  # the plain one stays too: all or nothing


async def test_dismissing_all_leaves_the_pinned_ones(server: InProcess) -> None:
    _, pinned, asking = await plain_pinned_asking(server)

    answer = await change(server, {"all": True, "dismissed": True})

    assert answer == {"updated": 1, "unread": 2}
    assert listed(await page(server)) == [asking, pinned]


async def test_a_later_unpinned_one_with_its_key_withdraws_the_banner(
        server: InProcess) -> None:
    _, pinned, asking = await plain_pinned_asking(server)

    later = await send(server, "maintenance done", users=["ada"], key="maint")
    await held(server, later)

    assert listed(await page(server, {"pinned": "true"})) == [asking]
    assert (await call(server, "GET", item_path(pinned)))[0] == 404
