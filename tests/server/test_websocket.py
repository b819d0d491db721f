"""The WebSocket push, as a JupyterLab tab sees it: entries written to Redis (by the real
``redis-cli``, a pipeline, or the REST ingest) arrive as frames, resume exactly from a cursor,
survive a server restart and a Redis outage, and a slow tab is cut off without holding up others.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio
from tornado.httpclient import HTTPClientError

from .clients import Client, connect, messages, xadd

BROADCAST = "jln:broadcast"
WsClient = Callable[..., Any]


def now_ms() -> int:
    return int(time.time() * 1000)


async def status(jp_fetch: Any) -> dict[str, Any]:
    return dict(json.loads((await jp_fetch("jln", "api", "status")).body))


@pytest.mark.asyncio
async def test_redis_cli_xadd_reaches_a_connected_tab(ws_client: WsClient, redis_server: Any
                                                      ) -> None:
    tab: Client = await ws_client()
    hello = await tab.hello()
    assert hello["cursor"]

    entry_id = await xadd(redis_server, BROADCAST, message="hi", type="success")

    got = await tab.frame()
    assert got["type"] == "notifications"
    assert got["cursor"] and got["cursor"] != hello["cursor"]
    [item] = got["notifications"]
    assert item["id"] == f"{BROADCAST}/{entry_id}"
    assert item["stream"] == BROADCAST
    assert item["createdAt"] == int(entry_id.split("-")[0])
    assert (item["message"], item["type"]) == ("hi", "success")


@pytest.mark.asyncio
@pytest.mark.parametrize("auth", [{}, {"Authorization": "token wrong"}], ids=["none", "wrong"])
async def test_upgrade_without_a_valid_token_is_refused(
        jln_started: Any, http_server: Any, jp_http_port: int, jp_base_url: str,
        auth: dict[str, str]) -> None:
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}jln/api/ws"
    with pytest.raises(HTTPClientError) as refused:
        await connect(url, auth.get("Authorization", "").removeprefix("token ") or None)
    assert refused.value.code == 403


@pytest.mark.asyncio
async def test_every_open_tab_gets_the_same_message(ws_client: WsClient, redis_server: Any
                                                    ) -> None:
    tabs = [await ws_client() for _ in range(3)]
    for tab in tabs:
        await tab.hello()

    entry_id = await xadd(redis_server, BROADCAST, message="to all tabs")

    for tab in tabs:
        items, _, _ = await tab.notifications(1)
        assert [(i["id"], i["message"]) for i in items] == [
            (f"{BROADCAST}/{entry_id}", "to all tabs")]


@pytest.mark.asyncio
async def test_entries_written_together_arrive_together_in_order(
        ws_client: WsClient, redis_url: str) -> None:
    tab = await ws_client()
    await tab.hello()
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        pipe = client.pipeline(transaction=True)  # MULTI ... EXEC while the reader is blocked
        for n in range(8):
            pipe.xadd(BROADCAST, {"message": f"m{n}"})
        await pipe.execute()

    items, _, frames = await tab.notifications(8)

    assert messages(items) == [f"m{n}" for n in range(8)]
    assert frames <= 2, "written in one transaction, they should not trickle out one by one"
    await tab.nothing_more(0.3)


@pytest.mark.asyncio
async def test_reconnecting_with_the_cursor_gets_exactly_what_was_missed(
        ws_client: WsClient, redis_server: Any) -> None:
    first = await ws_client()
    await first.hello()
    await xadd(redis_server, BROADCAST, message="seen")
    _, cursor, _ = await first.notifications(1)
    first.close()

    for text in ("missed 1", "missed 2", "missed 3"):
        await xadd(redis_server, BROADCAST, message=text)
    again = await ws_client(cursor=cursor)
    hello = await again.hello()
    assert hello["cursor"] == cursor
    replayed, _, _ = await again.notifications(3)
    await xadd(redis_server, BROADCAST, message="live")
    live, _, _ = await again.notifications(1)

    assert messages(replayed) == ["missed 1", "missed 2", "missed 3"]
    assert messages(live) == ["live"]
    await again.nothing_more(0.3)


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_a_long_absence_is_replayed_whole_in_order_then_live(
        ws_client: WsClient, redis_url: str, redis_server: Any) -> None:
    first = await ws_client()
    cursor = (await first.hello())["cursor"]
    first.close()
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        pipe = client.pipeline(transaction=False)
        for n in range(1234):  # more than one replay page
            pipe.xadd(BROADCAST if n % 3 else "jln:user:ada", {"message": f"m{n}"})
        await pipe.execute()

    again = await ws_client(cursor=cursor)
    await again.hello()
    replayed, _, frames = await again.notifications(1234)
    await xadd(redis_server, BROADCAST, message="live")
    live, _, _ = await again.notifications(1)

    # Entry ids order each stream; across streams only the millisecond orders them.
    assert sorted(messages(replayed), key=lambda m: int(m[1:])) == [f"m{n}" for n in range(1234)]
    for stream in (BROADCAST, "jln:user:ada"):
        own = [int(i["message"][1:]) for i in replayed if i["stream"] == stream]
        assert own == sorted(own)
    assert [i["createdAt"] for i in replayed] == sorted(i["createdAt"] for i in replayed)
    assert frames > 1
    assert messages(live) == ["live"]


@pytest.mark.asyncio
async def test_bad_cursor_is_refused_with_400(jln_started: Any, jp_ws_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await asyncio.wait_for(jp_ws_fetch("jln", "api", "ws", params={"cursor": "not-a-cursor"}),
                               10)
    assert refused.value.code == 400


@pytest.mark.asyncio
async def test_expired_notifications_are_neither_pushed_nor_replayed(
        ws_client: WsClient, redis_server: Any) -> None:
    tab = await ws_client()
    hello = await tab.hello()
    await xadd(redis_server, BROADCAST, message="stale", expiresAt=now_ms() - 60_000)
    await xadd(redis_server, BROADCAST, message="fresh")
    pushed, _, _ = await tab.notifications(1)
    tab.close()

    soon = now_ms() + 800
    await xadd(redis_server, BROADCAST, message="expires before replay", expiresAt=soon)
    await xadd(redis_server, BROADCAST, message="still good", expiresAt=now_ms() + 600_000)
    await asyncio.sleep(max(0.0, (soon - now_ms()) / 1000) + 0.2)
    again = await ws_client(cursor=hello["cursor"])
    await again.hello()
    replayed, _, _ = await again.notifications(2)

    assert messages(pushed) == ["fresh"]
    assert messages(replayed) == ["fresh", "still good"]
    await again.nothing_more(0.3)


@pytest.mark.asyncio
@pytest.mark.jln(user="ada", groups=["ml"])
async def test_a_tab_gets_its_user_and_group_streams_but_not_other_users(
        ws_client: WsClient, redis_server: Any) -> None:
    tab = await ws_client()
    assert (await tab.hello())["user"] == "ada"

    await xadd(redis_server, "jln:user:ada", message="for ada")
    await xadd(redis_server, "jln:user:bob", message="for bob")
    await xadd(redis_server, "jln:group:ml", message="for ml")
    await xadd(redis_server, "jln:group:hr", message="for hr")
    await xadd(redis_server, BROADCAST, message="for everyone")

    items, _, _ = await tab.notifications(3)
    assert messages(items) == ["for ada", "for ml", "for everyone"]
    await tab.nothing_more(0.3)


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_redis_outage_is_a_503_while_tabs_stay_served_and_recover_when_redis_returns(
        ws_client: WsClient, jp_fetch: Any, redis_server: Any) -> None:
    tab = await ws_client()
    cursor = (await tab.hello())["cursor"]
    try:
        await asyncio.to_thread(redis_server.stop)

        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("jln", "api", "notifications", method="POST",
                           body=json.dumps({"message": "while down"}))
        assert refused.value.code == 503 and refused.value.response is not None
        body = json.loads(refused.value.response.body)
        assert "unreachable" in body["error"]
        assert (await status(jp_fetch))["broker"]["reachable"] is False
        lost = await tab.expect("broker")  # the live tab stays open, told why nothing comes
        assert lost["reachable"] is False and lost["reason"]
        resuming = await ws_client(cursor=cursor)  # replayed from history held in memory
        assert (await resuming.hello())["broker"]["reachable"] is False
        replay = await resuming.frame()
        assert (replay["type"], replay["notifications"]) == ("notifications", [])
        await resuming.nothing_more(0.3)
        await tab.nothing_more(0.3)

        await asyncio.to_thread(redis_server.start)  # empty: a new epoch, nothing was lost
        await xadd(redis_server, BROADCAST, message="back")
        for open_tab in (tab, resuming):
            items, _, _ = await open_tab.notifications(1, timeout=20)
            assert messages(items) == ["back"]
            assert open_tab.broker[-1] == {"type": "broker", "reachable": True, "reason": None}
        assert (await status(jp_fetch))["broker"]["reachable"] is True
    finally:
        await asyncio.to_thread(redis_server.start)


@pytest.mark.asyncio
async def test_a_malformed_entry_is_skipped_and_the_next_one_arrives(
        ws_client: WsClient, jp_fetch: Any, redis_server: Any) -> None:
    tab = await ws_client()
    await tab.hello()

    await xadd(redis_server, BROADCAST, message="bad type", type="bogus")
    await xadd(redis_server, BROADCAST, message="bad link", link="javascript:alert(1)")
    await xadd(redis_server, BROADCAST, message="good")
    items, _, _ = await tab.notifications(1)

    assert messages(items) == ["good"]
    assert (await status(jp_fetch))["reader"]["malformed"] == 2
    await tab.nothing_more(0.3)


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_restarted_server_replays_what_was_published_while_it_was_down(
        jupyter_process: Callable[..., Any], ws_connect: WsClient, redis_url: str,
        redis_server: Any) -> None:
    server = await asyncio.to_thread(jupyter_process, redis_url)
    tab = await ws_connect(server)
    await tab.hello()
    await xadd(redis_server, BROADCAST, message="before")
    _, cursor, _ = await tab.notifications(1)

    await asyncio.to_thread(server.stop)
    assert await asyncio.wait_for(tab.conn.read_message(), 10) is None
    assert tab.conn.close_code == 1001, "a stopping server says goodbye"
    for text in ("while down 1", "while down 2"):
        await xadd(redis_server, BROADCAST, message=text)
    await asyncio.to_thread(server.start)
    again = await ws_connect(server, cursor=cursor)
    await again.hello()
    replayed, _, _ = await again.notifications(2)
    await xadd(redis_server, BROADCAST, message="after")
    live, _, _ = await again.notifications(1)

    assert messages(replayed) == ["while down 1", "while down 2"]
    assert messages(live) == ["after"]
    await again.nothing_more(0.3)


@pytest.mark.asyncio
@pytest.mark.timeout(60)
@pytest.mark.jln(send_queue_limit=10)
async def test_a_tab_that_stops_reading_is_cut_off_without_delaying_the_others(
        ws_client: WsClient, jp_fetch: Any, redis_url: str) -> None:
    fast, slow = await ws_client(), await ws_client()
    await fast.hello()
    await slow.hello()  # ...and then it reads nothing more, into a small socket buffer
    slow_socket = slow.conn.stream.socket
    slow_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    text = "x" * 9000  # a few dozen of these fill the socket buffers

    received: list[dict[str, Any]] = []

    async def keep_reading() -> None:
        while True:
            received.extend((await fast.notifications(1))[0])

    reading = asyncio.create_task(keep_reading())
    started = time.monotonic()
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        for n in range(2000):  # one by one, so the reader hands out many small batches
            await client.xadd(BROADCAST, {"message": f"{n} {text}"})
            if n % 50 == 49 and (await status(jp_fetch))["clients"]["cutOffSlow"]:
                break
    while len(received) < n + 1 and time.monotonic() - started < 30:
        await asyncio.sleep(0.05)
    reading.cancel()
    took = time.monotonic() - started
    cut_off = await status(jp_fetch)
    slow_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4_000_000)
    backlog = 0  # what was on its way before the close frame
    while await asyncio.wait_for(slow.conn.read_message(), 10) is not None:
        backlog += 1

    assert [item["message"].split()[0] for item in received] == [str(i) for i in range(n + 1)]
    assert took < 15, f"the fast tab waited {took:.1f}s"
    assert (cut_off["clients"]["cutOffSlow"], cut_off["clients"]["connected"]) == (1, 1)
    assert slow.conn.close_code == 4008
    assert "too slow" in (slow.conn.close_reason or "")
    assert backlog <= n


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_every_open_tab_is_pinged_each_interval_and_a_closed_one_no_more(
        ws_client: WsClient, jp_serverapp: Any) -> None:
    jp_serverapp.web_app.settings["ws_ping_interval"] = 300  # ms; jupyter_server's is 30 s
    tabs = [await ws_client() for _ in range(3)]
    pings = [0] * len(tabs)
    for i, tab in enumerate(tabs):
        await tab.hello()
        tab.conn.on_ping = lambda _, i=i: pings.__setitem__(i, pings[i] + 1)

    await asyncio.sleep(1.6)
    tabs[0].close()
    seen = list(pings)
    await asyncio.sleep(1.2)

    assert all(3 <= n <= 7 for n in seen), seen  # one per 300 ms, from one shared timer
    assert all(pings[i] > seen[i] for i in (1, 2)), pings  # the others still pinged
    for tab in tabs[1:]:
        await tab.nothing_more(0.1)  # the pings went unseen by the frames' reader
        assert tab.conn.close_code is None
