"""A client resuming from a cursor older than what the streams still hold is told, not silently
given the rest: a gap frame before the replay, and ``gap`` in the poll answer. Trimmed by the
server's own retention while it runs, or by a publisher before the server started."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from .clients import Client, InProcess, connect, messages, ws_url, xadd

BROADCAST = "jln:broadcast"


async def publish(redis_server: Any, count: int, prefix: str = "n") -> list[str]:
    return [await xadd(redis_server, BROADCAST, message=f"{prefix}{i}") for i in range(count)]


async def poll(jp_fetch: Any, cursor: str) -> dict[str, Any]:
    return dict(json.loads((await jp_fetch("jln", "api", "notifications",
                                           params={"since": cursor})).body))


@pytest.mark.asyncio
@pytest.mark.jln(retention_sweep_interval=0.2)
async def test_a_cursor_behind_what_retention_trimmed_gets_a_gap_then_the_rest(
        ws_client: Any, jp_fetch: Any, redis_server: Any, server: InProcess) -> None:
    tab: Client = await ws_client()
    cursor = (await tab.hello())["cursor"]
    ids = await publish(redis_server, 5)
    await tab.notifications(5)
    up_to_date = await ws_client()
    fresh_cursor = (await up_to_date.hello())["cursor"]

    redis_server.cli("XTRIM", BROADCAST, "MAXLEN", "2")  # as a publisher's MAXLEN would
    timeline = server.service.history.timeline
    for _ in range(100):  # the next sweep forgets what Redis no longer holds
        if timeline.oldest(BROADCAST) == ids[3]:
            break
        await tab.nothing_more(0.05)
    assert timeline.oldest(BROADCAST) == ids[3]

    resuming = await ws_client(cursor=cursor)
    await resuming.hello()
    gap = await resuming.expect("gap")
    assert gap["streams"] == {BROADCAST: {"after": "0-0", "resumedAt": ids[3]}}
    items, _, _ = await resuming.notifications(2)
    assert messages(items) == ["n3", "n4"]
    await resuming.nothing_more(0.3)

    answer = await poll(jp_fetch, cursor)
    assert answer["gap"] == gap["streams"]
    assert messages(answer["notifications"]) == ["n3", "n4"]
    assert (await poll(jp_fetch, answer["cursor"]))["gap"] == {}  # told once

    whole = await ws_client(cursor=fresh_cursor)  # saw everything: nothing to tell
    await whole.hello()
    assert (await whole.expect("notifications"))["notifications"] == []
    await whole.nothing_more(0.3)
    assert (await poll(jp_fetch, fresh_cursor))["gap"] == {}


async def seen_then_stopped(server: Any, ws_connect: Any, redis_server: Any,
                            *batches: tuple[int, str]) -> tuple[list[str], str]:
    """Publish each batch (count, prefix) while a tab of ``server`` reads it, then stop the
    server: the ids published, and the tab's last cursor."""
    tab = await ws_connect(server)
    await tab.hello()
    ids: list[str] = []
    for count, prefix in batches:
        ids += await publish(redis_server, count, prefix)
        _, cursor, _ = await tab.notifications(count)
    tab.close()
    server.stop()
    return ids, cursor


@pytest.mark.asyncio
async def test_a_gap_trimmed_while_the_server_was_down_is_found_at_start(
        jupyter_process: Any, ws_connect: Any, redis_url: str, redis_server: Any) -> None:
    server = jupyter_process(redis_url)
    ids, first_cursor = await seen_then_stopped(server, ws_connect, redis_server, (3, "old"))

    more = await publish(redis_server, 4, "new")
    redis_server.cli("XTRIM", BROADCAST, "MAXLEN", "2")  # old0..2 and new0..1 gone
    server.start()

    resuming = await ws_connect(server, cursor=first_cursor)
    await resuming.hello()
    gap = await resuming.expect("gap")
    assert gap["streams"] == {BROADCAST: {"after": ids[2], "resumedAt": more[2]}}
    items, _, _ = await resuming.notifications(2)
    assert messages(items) == ["new2", "new3"]

    request = urllib.request.Request(
        f"{server.url}jln/api/notifications?since={first_cursor}",
        headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        polled = json.loads(answer.read())
    assert polled["gap"] == gap["streams"]
    assert messages(polled["notifications"]) == ["new2", "new3"]


@pytest.mark.asyncio
async def test_a_cursor_at_the_last_entry_kept_has_no_gap_after_a_restart(
        jupyter_process: Any, ws_connect: Any, redis_url: str, redis_server: Any) -> None:
    """Nothing after the cursor was trimmed: the replay is whole and says nothing of a gap."""
    server = jupyter_process(redis_url)
    _, cursor = await seen_then_stopped(server, ws_connect, redis_server, (2, "a"), (3, "b"))
    later = await publish(redis_server, 1, "c")
    redis_server.cli("XTRIM", BROADCAST, "MAXLEN", "4")  # a0, a1 gone: before the cursor
    server.start()

    resuming = await connect(ws_url(server.url), server.token, cursor=cursor)
    try:
        await resuming.hello()  # then the replay, with no gap frame before it
        items, _, _ = await resuming.notifications(1)
        assert [i["id"] for i in items] == [f"{BROADCAST}/{later[0]}"]
        await resuming.nothing_more(0.3)
    finally:
        resuming.close()
