"""A real ``jupyter server`` on the embedded broker (no ``JLN.redis_url``, no Redis at all)
keeps its notifications and their read state across a restart: everything through a clean
stop (SIGTERM), and what was saved before a crash (SIGKILL after the save interval)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from .clients import FRAME_TIMEOUT, messages

WsClient = Callable[..., Any]

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(150)]


async def call(server: Any, method: str, path: str, body: Any = None,
               **query: str | int) -> tuple[int, Any]:
    """``method`` on ``{server.url}jln/api/{path}`` with the server's token; status and JSON."""
    url = f"{server.url}jln/api/{path}" + (f"?{urlencode(query)}" if query else "")
    response: HTTPResponse = await AsyncHTTPClient().fetch(
        url, method=method, headers={"Authorization": f"token {server.token}"},
        body=None if body is None else json.dumps(body), raise_error=False,
        request_timeout=FRAME_TIMEOUT)
    text = response.body.decode() if response.body else ""
    return response.code, json.loads(text) if text.startswith(("{", "[")) else text


async def publish(server: Any, message: str) -> str:
    code, answer = await call(server, "POST", "notifications", {"message": message})
    assert code == 201, answer
    [notification_id] = answer["ids"]
    return str(notification_id)


async def inbox(server: Any) -> list[dict[str, Any]]:
    code, answer = await call(server, "GET", "notifications", limit=10)
    assert code == 200, answer
    return list(answer["notifications"])


def snapshot_file(server: Any) -> Path:
    """Where the server keeps the embedded broker by default: the Jupyter data directory."""
    return Path(server.directory) / "data" / "jln" / "embedded-broker.msgpack"


def crash(server: Any) -> None:
    """SIGKILL: no shutdown hook runs."""
    process = server._process
    process.send_signal(signal.SIGKILL)
    process.wait(15)
    server.stop()  # forgets the dead process and closes its log


async def test_a_clean_restart_keeps_notifications_and_cursors(
        jupyter_process: Callable[..., Any], ws_connect: WsClient) -> None:
    # no periodic saves: only the shutdown's save can have kept the notification
    server = await asyncio.to_thread(jupyter_process, None,
                                     "--JLN.embedded_save_interval=0")
    tab = await ws_connect(server)
    before_cursor = (await tab.hello())["cursor"]
    first = await publish(server, "kept across the restart")
    _, seen_cursor, _ = await tab.notifications(1)

    await asyncio.to_thread(server.restart)
    listed = await inbox(server)
    resumed_seen = await ws_connect(server, cursor=seen_cursor)
    await resumed_seen.hello()
    resumed_before = await ws_connect(server, cursor=before_cursor)
    await resumed_before.hello()
    replayed, _, _ = await resumed_before.notifications(1)
    second = await publish(server, "after the restart")
    live_seen, _, _ = await resumed_seen.notifications(1)
    live_before, _, _ = await resumed_before.notifications(1)

    assert snapshot_file(server).is_file()
    assert [(i["id"], i["message"], i["read"]) for i in listed] == [
        (first, "kept across the restart", False)]
    assert [i["id"] for i in replayed] == [first]
    assert [i["id"] for i in live_seen] == [i["id"] for i in live_before] == [second]
    assert messages(live_seen) == ["after the restart"]
    assert second.split("/")[0] == first.split("/")[0]
    assert _entry_key(second) > _entry_key(first), "ids keep growing after a restart"
    await resumed_seen.nothing_more(0.3)
    await resumed_before.nothing_more(0.3)
    assert "embedded broker: saved to" in server.log_tail(400), "SIGTERM ran stop_extension"


async def test_a_crash_after_the_save_interval_keeps_the_notification(
        jupyter_process: Callable[..., Any]) -> None:
    server = await asyncio.to_thread(jupyter_process, None)  # the default interval, 1 s
    notification_id = await publish(server, "saved before the crash")
    await asyncio.sleep(2.5)

    await asyncio.to_thread(crash, server)
    await asyncio.to_thread(server.start)
    listed = await inbox(server)

    assert [(i["id"], i["message"]) for i in listed] == [
        (notification_id, "saved before the crash")]
    assert "embedded broker: saved to" not in server.log_tail(400), "no shutdown save ran"


async def test_read_state_survives_a_restart(jupyter_process: Callable[..., Any]) -> None:
    server = await asyncio.to_thread(jupyter_process, None)
    notification_id = await publish(server, "to be read")
    code, marked = await call(server, "POST", "notifications/state",
                              {"ids": [notification_id], "read": True})
    assert code == 200, marked

    await asyncio.to_thread(server.restart)
    listed = await inbox(server)
    code, count = await call(server, "GET", "notifications/count")

    assert [(i["id"], i["read"]) for i in listed] == [(notification_id, True)]
    assert (code, count) == (200, {"unread": 0, "total": 1})


async def test_a_dismissed_notification_stays_dismissed_after_a_restart(
        jupyter_process: Callable[..., Any]) -> None:
    server = await asyncio.to_thread(jupyter_process, None)
    dismissed = await publish(server, "dismissed")
    kept = await publish(server, "kept")
    code, answer = await call(server, "DELETE", f"notifications/{quote(dismissed, safe='')}")
    assert code == 200, answer

    await asyncio.to_thread(server.restart)
    listed = await inbox(server)
    code, count = await call(server, "GET", "notifications/count")

    assert [(i["id"], i["read"]) for i in listed] == [(kept, False)]
    assert (code, count) == (200, {"unread": 1, "total": 1})


def _entry_key(notification_id: str) -> tuple[int, int]:
    ms, seq = notification_id.rsplit("/", 1)[1].split("-")
    return int(ms), int(seq)
