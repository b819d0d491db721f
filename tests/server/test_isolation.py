"""Two users' real servers on one Redis: what is sent to alice, or to a group bob is not in, never
reaches any of bob's ways of seeing notifications: his socket, his poll, his inbox (list,
count, one item, topics) or his receipts; and what alice marks read stays unread for bob."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from .clients import Client, messages
from .test_embedded_restart import call
from .test_inbox import change, count, item_path, listed, page, send
from .test_inbox_servers import server_of, until_in_inbox

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(150)]


async def test_what_is_for_alice_or_her_group_never_reaches_bob(
        jupyter_process: Callable[..., Any], ws_connect: Any, redis_url: str) -> None:
    alice, bob = await asyncio.gather(
        asyncio.to_thread(server_of, jupyter_process, redis_url, "alice", "--JLN.groups=ml"),
        asyncio.to_thread(server_of, jupyter_process, redis_url, "bob"))
    start = {name: (await page(server))["cursor"] for name, server in
             (("alice", alice), ("bob", bob))}
    alice_tab: Client = await ws_connect(alice)
    bob_tab: Client = await ws_connect(bob)
    await alice_tab.hello()
    await bob_tab.hello()

    private = await send(alice, "Your review is due", users=["alice"], topic="alice-review")
    grouped = await send(alice, "ML cluster upgrade", groups=["ml"], topic="ml-ops")
    public = await send(alice, "Fire drill at 3", topic="office")
    for_bob = await send(bob, "Bob's build passed", users=["bob"], topic="bob-ci")
    secret_ids = [private, grouped]

    got_alice, _, _ = await alice_tab.notifications(3)
    got_bob, _, _ = await bob_tab.notifications(2)
    await alice_tab.nothing_more(0.5)
    await bob_tab.nothing_more(0.5)
    for server, ids in ((alice, (private, grouped, public)), (bob, (public, for_bob))):
        for notification_id in ids:
            await until_in_inbox(server, notification_id)
    polled = {name: (await page(server, {"since": start[name]}))["notifications"]
              for name, server in (("alice", alice), ("bob", bob))}
    _, topics = await call(bob, "GET", "topics")
    items = [(await call(bob, "GET", item_path(i)))[0] for i in secret_ids]
    receipts = [await call(bob, "GET", f"{item_path(i)}/receipts") for i in secret_ids]
    dismiss = [(await call(bob, "DELETE", item_path(i)))[0] for i in secret_ids]
    marked = await change(bob, {"ids": secret_ids, "read": True})
    await change(alice, {"ids": [public], "read": True})
    _, bob_public = await call(bob, "GET", item_path(public))
    _, public_receipts = await call(alice, "GET", f"{item_path(public)}/receipts")

    assert messages(got_alice) == ["Your review is due", "ML cluster upgrade", "Fire drill at 3"]
    assert messages(got_bob) == ["Fire drill at 3", "Bob's build passed"]
    assert [i["id"] for i in polled["alice"]] == [private, grouped, public]
    assert [i["id"] for i in polled["bob"]] == [public, for_bob]
    assert sorted(listed(await page(bob))) == sorted([public, for_bob])
    assert await count(bob) == {"unread": 2, "total": 2}
    bob_topics = json.dumps(topics)
    assert "alice-review" not in bob_topics and "ml-ops" not in bob_topics, topics
    assert "office" in bob_topics and "bob-ci" in bob_topics, topics
    assert items == [404, 404] and dismiss == [404, 404]
    assert [code for code, _ in receipts] == [403, 403], receipts
    assert all("Your review" not in json.dumps(r) for _, r in receipts)
    assert marked["updated"] == 0
    _, alice_private = await call(alice, "GET", item_path(private))
    assert (alice_private["read"], bob_public["read"]) == (False, False)
    assert public_receipts["read"][0]["user"] == "alice"
    assert [u["user"] for u in public_receipts["unread"]] == ["bob"]
    assert await count(alice) == {"unread": 2, "total": 3}


async def test_a_guessed_id_in_bobs_cursor_or_receipts_reveals_nothing_of_alice(
        jupyter_process: Callable[..., Any], redis_url: str) -> None:
    alice, bob = await asyncio.gather(
        asyncio.to_thread(server_of, jupyter_process, redis_url, "alice", "--JLN.groups=ml"),
        asyncio.to_thread(server_of, jupyter_process, redis_url, "bob"))
    private = await send(alice, "Salary review", users=["alice"])
    await until_in_inbox(alice, private)
    await change(alice, {"ids": [private], "read": True})
    stream, _, entry = private.rpartition("/")
    guesses = [private, f"{stream}/{entry.split('-')[0]}-1", "jln:group:ml/1-0"]

    answers = [await call(bob, "GET", f"notifications/{quote(g, safe='')}/receipts")
               for g in guesses]
    bob_cursor = (await page(bob))["cursor"]
    code, poll = await call(bob, "GET", "notifications", since=bob_cursor)

    assert [c for c, _ in answers] == [403, 403, 403], answers
    assert len({json.dumps(a) for _, a in answers[:2]}) == 1  # the same for a real id and a miss
    assert code == 200 and poll["notifications"] == []
