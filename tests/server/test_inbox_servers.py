"""Real ``jupyter server`` processes sharing one Redis, as a team's servers do: each user's inbox
is their own (what ada reads stays unread for bob, what is sent to ada never reaches bob), and a
server's history and read state outlive its restart, because Redis holds them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from .clients import FRAME_TIMEOUT, Client, messages
from .test_embedded_restart import call
from .test_inbox import Server, change, count, item_path, listed, page, send

WsClient = Callable[..., Any]

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


OTHER_EXTENSIONS = ("jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals")
"""Installed here and enabled for every server; not what these tests are about, and they
double a server's start and stop."""


def server_of(jupyter_process: Callable[..., Any], redis_url: str, user: str,
              *args: str) -> Any:
    """``jupyter server --JLN.user=<user> <args>`` on ``redis_url``, with JLN its only
    extension (in its own config directory, which outranks the installed ones), started."""
    process = jupyter_process(redis_url, f"--JLN.user={user}", *args, start=False)
    config = process.directory / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": dict.fromkeys(OTHER_EXTENSIONS, False)}}))
    process.start()
    return process


async def servers_of(jupyter_process: Callable[..., Any], redis_url: str,
                     *users: str) -> list[Any]:
    """One server per user on ``redis_url``, started side by side."""
    return list(await asyncio.gather(*(
        asyncio.to_thread(server_of, jupyter_process, redis_url, user) for user in users)))


async def until_in_inbox(server: Server, notification_id: str) -> None:
    """Wait until the server's reader has read it: publishing returns before that."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while (await call(server, "GET", item_path(notification_id)))[0] != 200:
        assert time.monotonic() < deadline, f"{notification_id} never reached {server.url}"
        await asyncio.sleep(0.05)


async def test_a_broadcast_ada_reads_stays_unread_for_bob(
        jupyter_process: Callable[..., Any], redis_url: str) -> None:
    ada, bob = await servers_of(jupyter_process, redis_url, "ada", "bob")
    notification_id = await send(ada, "Office closed on Friday")
    await until_in_inbox(ada, notification_id)
    await until_in_inbox(bob, notification_id)

    answer = await change(ada, {"ids": [notification_id], "read": True})

    assert answer == {"updated": 1, "unread": 0}
    _, for_ada = await call(ada, "GET", item_path(notification_id))
    _, for_bob = await call(bob, "GET", item_path(notification_id))
    assert (for_ada["read"], for_bob["read"], for_bob["readAt"]) == (True, False, None)
    assert await count(ada) == {"unread": 0, "total": 1}
    assert await count(bob) == {"unread": 1, "total": 1}
    _, receipts = await call(ada, "GET", f"{item_path(notification_id)}/receipts")
    assert receipts == {"id": notification_id,
                        "read": [{"user": "ada", "readAt": for_ada["readAt"]}],
                        "unread": [{"user": "bob"}]}


async def test_a_message_to_ada_never_reaches_bobs_inbox_or_socket(
        jupyter_process: Callable[..., Any], ws_connect: WsClient, redis_url: str) -> None:
    ada, bob = await servers_of(jupyter_process, redis_url, "ada", "bob")
    tab: Client = await ws_connect(bob)
    await tab.hello()

    private = await send(ada, "Your review is due", users=["ada"])
    public = await send(ada, "Fire drill at 3")

    pushed, _, _ = await tab.notifications(1)
    await tab.nothing_more(0.5)
    await until_in_inbox(ada, private)
    await until_in_inbox(ada, public)
    assert messages(pushed) == ["Fire drill at 3"]
    assert listed(await page(bob)) == [public]
    assert await count(bob) == {"unread": 1, "total": 1}
    assert (await call(bob, "GET", item_path(private)))[0] == 404
    assert listed(await page(ada)) == [public, private]


@pytest.mark.timeout(150)
async def test_history_and_read_state_survive_a_restart_of_the_server(
        jupyter_process: Callable[..., Any], redis_url: str) -> None:
    [ada] = await servers_of(jupyter_process, redis_url, "ada")
    seen = await send(ada, "Read before the restart", users=["ada"])
    kept = await send(ada, "Saved for later")
    unseen = await send(ada, "Still unread", users=["ada"])
    for notification_id in (seen, kept, unseen):
        await until_in_inbox(ada, notification_id)
    await change(ada, {"ids": [seen], "read": True})
    await change(ada, {"ids": [kept], "saved": True})
    before = await page(ada)

    await asyncio.to_thread(ada.restart)

    after = await page(ada)
    assert [(i["id"], i["read"], i["saved"]) for i in after["notifications"]] == [
        (unseen, False, False), (kept, False, True), (seen, True, False)]
    assert after["notifications"] == before["notifications"]
    assert (after["totalCount"], after["unreadCount"]) == (3, 2)


@pytest.mark.timeout(150)
async def test_what_came_while_the_server_was_down_is_unread_after_it_returns(
        jupyter_process: Callable[..., Any], redis_url: str, redis_server: Any) -> None:
    [ada] = await servers_of(jupyter_process, redis_url, "ada")
    before = await send(ada, "Sent while it ran")
    await until_in_inbox(ada, before)
    await change(ada, {"ids": [before], "read": True})
    await asyncio.to_thread(ada.stop)

    entry = await asyncio.to_thread(redis_server.cli, "XADD", "jln:broadcast", "*", "message",
                                    "Sent while it was down")
    await asyncio.to_thread(ada.start)

    answer = await page(ada)
    assert [(i["id"], i["read"]) for i in answer["notifications"]] == [
        (f"jln:broadcast/{entry.strip()}", False), (before, True)]
    assert answer["unreadCount"] == 1


async def test_a_second_server_of_the_same_user_shows_what_the_first_marked_read(
        jupyter_process: Callable[..., Any], ws_connect: WsClient, redis_url: str) -> None:
    one, two = await servers_of(jupyter_process, redis_url, "ada", "ada")
    cursor = (await page(two))["cursor"]
    seen = await send(one, "Read in the other server's tab", users=["ada"])
    unseen = await send(one, "Not read yet", users=["ada"])
    for server in (one, two):
        await until_in_inbox(server, seen)
        await until_in_inbox(server, unseen)

    await change(one, {"ids": [seen], "read": True})

    tab: Client = await ws_connect(two, cursor=cursor)
    hello = await tab.hello()
    replayed, _, _ = await tab.notifications(2)
    polled = (await page(two, {"since": cursor}))["notifications"]
    assert hello["unread"] == 1
    for caught_up in (replayed, polled):
        assert [(i["id"], i["read"]) for i in caught_up] == [(seen, True), (unseen, False)]
    assert await count(two) == {"unread": 1, "total": 2}
