"""Streams recreated behind the server's back: Redis emptied (FLUSHALL, or restarted without
its data), a stream deleted and written again with older ids (a clock step), a cursor ahead of
anything the stream reached. Connected tabs are told within 5 s and given what the streams hold
now; a resuming tab gets a gap and a replay from the start of what is there; nothing newer is
ever hidden from a client because its cursor said it had seen it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from jln_broker.protocol import Cursor

from .clients import Client, InProcess, messages, xadd

BROADCAST = "jln:broadcast"
TOLD_WITHIN = 5.0


async def status(jp_fetch: Any) -> dict[str, Any]:
    return dict(json.loads((await jp_fetch("jln", "api", "status")).body))


async def poll(jp_fetch: Any, cursor: str) -> dict[str, Any]:
    return dict(json.loads((await jp_fetch("jln", "api", "notifications",
                                           params={"since": cursor})).body))


async def told_of_gap(tab: Client) -> tuple[dict[str, Any], float]:
    """The gap frame a connected tab is sent (past the broker frames of a restart), and how
    long it took to come."""
    started = time.monotonic()
    while (frame := await tab.frame(TOLD_WITHIN + 5))["type"] == "broker":
        tab.broker.append(frame)
    assert frame["type"] == "gap", frame
    return frame, time.monotonic() - started


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["flushall", "restarted empty"])
async def test_redis_losing_everything_is_told_within_5_s_and_read_anew(
        ws_client: Any, jp_fetch: Any, redis_server: Any, server: InProcess,
        how: str) -> None:
    tab: Client = await ws_client()
    await tab.hello()
    before = [await xadd(redis_server, BROADCAST, message=f"old{i}") for i in range(3)]
    _, old_cursor, _ = await tab.notifications(3)
    old_epoch = (await status(jp_fetch))["reader"]["epoch"]

    redis_server.cli("FLUSHALL")
    if how == "restarted empty":
        redis_server.restart()  # its AOF holds the FLUSHALL: back with nothing
    gap, took = await told_of_gap(tab)

    print(f"\n{how}: a connected tab told in {took:.2f} s")
    assert took < TOLD_WITHIN
    assert gap["streams"] == {BROADCAST: {"after": before[-1], "resumedAt": None}}
    if how == "restarted empty":
        assert [f["reachable"] for f in tab.broker] == [False, True]
    new = await xadd(redis_server, BROADCAST, message="new epoch")
    items, _, _ = await tab.notifications(1)
    assert [i["id"] for i in items] == [f"{BROADCAST}/{new}"]
    await tab.nothing_more(0.3)
    current = await status(jp_fetch)
    assert current["reader"]["epoch"] not in (None, old_epoch)
    assert current["reader"]["resets"] == 1

    resuming = await ws_client(cursor=old_cursor)  # a cursor of the old epoch
    await resuming.hello()
    assert (await resuming.expect("gap"))["streams"] == {
        BROADCAST: {"after": before[-1], "resumedAt": new}}
    items, _, _ = await resuming.notifications(1)
    assert messages(items) == ["new epoch"]  # from the start of the new epoch
    polled = await poll(jp_fetch, old_cursor)
    assert polled["gap"] == {BROADCAST: {"after": before[-1], "resumedAt": new}}
    assert messages(polled["notifications"]) == ["new epoch"]
    assert Cursor.decode(polled["cursor"]).epoch == current["reader"]["epoch"]


@pytest.mark.asyncio
async def test_a_stream_written_again_with_older_ids_is_read_again(
        ws_client: Any, jp_fetch: Any, redis_server: Any, server: InProcess) -> None:
    """DEL then XADD with ids before the reader's position (a clock stepped back): a reader
    waiting for ids past its position would wait forever; it starts the stream again."""
    tab: Client = await ws_client()
    await tab.hello()
    last = await xadd(redis_server, BROADCAST, message="before")
    await tab.notifications(1)

    redis_server.cli("DEL", BROADCAST)
    redis_server.cli("XADD", BROADCAST, "1000-1", "message", "written again")
    gap, took = await told_of_gap(tab)
    print(f"\nstream written again with older ids: a connected tab told in {took:.2f} s")

    assert took < TOLD_WITHIN
    assert gap["streams"] == {BROADCAST: {"after": last, "resumedAt": "1000-1"}}
    items, _, _ = await tab.notifications(1)
    assert messages(items) == ["written again"]
    redis_server.cli("XADD", BROADCAST, "1000-2", "message", "next")
    items, _, _ = await tab.notifications(1)
    assert messages(items) == ["next"]  # live again, from the stream's new ids


@pytest.mark.asyncio
@pytest.mark.parametrize("epoch", ["current", "none"])
async def test_a_cursor_ahead_of_its_stream_hides_nothing_newer(
        ws_client: Any, jp_fetch: Any, redis_server: Any, server: InProcess,
        epoch: str) -> None:
    """A cursor whose broadcast position the stream never reached (another Redis without an
    epoch, a clock step): the client is told and given the stream from its start, and what
    comes next reaches it although its id is below the cursor's."""
    kept = await xadd(redis_server, BROADCAST, message="kept")
    await server.service.fanout.ready()
    future = f"{int(time.time() * 1000) + 86_400_000}-0"  # a day ahead
    cursor = Cursor({BROADCAST: future}, None,
                    server.service.history.epoch if epoch == "current" else None).encode()

    tab: Client = await ws_client(cursor=cursor)
    await tab.hello()
    assert (await tab.expect("gap"))["streams"] == {
        BROADCAST: {"after": future, "resumedAt": kept}}
    items, _, _ = await tab.notifications(1)
    assert messages(items) == ["kept"]
    await xadd(redis_server, BROADCAST, message="newer than the stream, older than the cursor")
    items, _, _ = await tab.notifications(1)
    assert messages(items) == ["newer than the stream, older than the cursor"]

    polled = await poll(jp_fetch, cursor)
    assert polled["gap"] == {BROADCAST: {"after": future, "resumedAt": kept}}
    assert len(polled["notifications"]) == 2


@pytest.mark.asyncio
async def test_a_cursor_ahead_because_this_server_lags_is_not_a_gap(
        ws_client: Any, redis_server: Any, server: InProcess) -> None:
    """Ahead of this server's reader but not of Redis (another server of the user read
    further): no gap, and what the client saw is not sent again."""
    first = await xadd(redis_server, BROADCAST, message="seen elsewhere")
    await server.service.fanout.ready()
    cursor = Cursor({BROADCAST: first}, None, server.service.history.epoch)
    fanout = server.service.fanout
    lagging = fanout.cursor
    assert lagging is not None
    resumed = await server.service.history.resume(cursor, lagging.restricted([BROADCAST])
                                                  .moved(BROADCAST, "0-0"))
    assert (resumed.since, resumed.gaps) == (cursor, {})
