"""Redis unreachable when the server starts: the server starts anyway, says so in its log and
``/status``, tabs get their hello at once with the broker's state, and everything works once
Redis appears, with nothing published meanwhile lost."""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer

from .clients import free_port, messages, xadd

BROADCAST = "jln:broadcast"


def status(server: Any) -> dict[str, Any]:
    request = urllib.request.Request(f"{server.url}jln/api/status",
                                     headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.loads(answer.read()))


@pytest.mark.asyncio
async def test_a_server_started_before_redis_serves_tabs_and_recovers(
        jupyter_process: Any, ws_connect: Any, tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None
    redis = RedisServer(binary, tmp_path)
    redis.port = free_port()  # nothing listens there yet
    server = jupyter_process(f"redis://127.0.0.1:{redis.port}/0")
    try:
        down = status(server)
        assert down["broker"]["reachable"] is False and down["broker"]["lastError"]
        assert "cannot load the notification history yet" in server.log_tail(200)

        tab = await ws_connect(server)
        hello = await asyncio.wait_for(tab.hello(), 5)  # at once, not once Redis is back
        assert hello["broker"]["reachable"] is False
        assert str(redis.port) in hello["broker"]["reason"]
        assert hello["cursor"] is None

        redis.start()
        back = await tab.expect("broker")
        assert back == {"type": "broker", "reachable": True, "reason": None}
        start = await tab.expect("notifications")  # where this tab's feed starts
        assert start["notifications"] == [] and start["cursor"]

        await xadd(redis, BROADCAST, message="first after the outage")
        items, _, _ = await tab.notifications(1)
        assert messages(items) == ["first after the outage"]
        assert status(server)["broker"]["reachable"] is True
        later = await ws_connect(server, cursor=start["cursor"])
        assert (await later.hello())["broker"] == {"reachable": True, "reason": None}
        items, _, _ = await later.notifications(1)
        assert messages(items) == ["first after the outage"]
    finally:
        redis.stop()
