"""A WebSocket client for tests: JSON frames read with a deadline, so a bug fails a test instead
of hanging it."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

FRAME_TIMEOUT = 30.0
"""Seconds a test waits for a frame it expects before failing: only a failing test waits
that long, and on a loaded 2-core machine a reader has been seen to need more than 10."""


@dataclass(frozen=True)
class InProcess:
    """The in-process server (the ``server`` fixture), reached over its real port like a
    JupyterProcess, with its extension's service at hand for waiting until its reader has read
    something."""

    url: str
    token: str
    service: Any


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """A WebSocket client that reads JSON frames with a deadline."""

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self.conn = conn
        self.broker: list[dict[str, Any]] = []
        """The broker frames ``notifications()`` read past: the broker lost or back."""

    async def frame(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The next frame; fails on a close or when none comes in time."""
        text = await asyncio.wait_for(self.conn.read_message(), timeout)
        assert text is not None, (
            f"socket closed: {self.conn.close_code} {self.conn.close_reason}")
        return dict(json.loads(text))

    async def hello(self) -> dict[str, Any]:
        """The hello, with the cursor to resume from. A server still loading its streams says
        hello at once without one (cursor null) and sends it in an empty frame once loaded:
        that frame is read here too, unless the hello says the broker is out of reach (then
        the caller waits for it)."""
        hello = await self.expect("hello")
        reachable = hello["broker"]["reachable"]
        while hello["cursor"] is None and reachable:
            frame = await self.frame()
            if frame["type"] == "broker":
                self.broker.append(frame)
                reachable = frame["reachable"]
            else:
                assert frame["type"] == "notifications" and not frame["notifications"], frame
                hello["cursor"] = frame["cursor"]
        return hello

    async def expect(self, kind: str, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The next frame, which must be of type ``kind``."""
        got = await self.frame(timeout)
        assert got["type"] == kind, got
        return got

    async def notifications(self, count: int, timeout: float = FRAME_TIMEOUT
                            ) -> tuple[list[dict[str, Any]], str, int]:
        """Read frames until ``count`` notifications came; returns them, the last cursor and
        how many frames carried them."""
        items: list[dict[str, Any]] = []
        cursor, frames = "", 0
        deadline = asyncio.get_running_loop().time() + timeout
        while len(items) < count:
            left = deadline - asyncio.get_running_loop().time()
            got = await self.frame(max(left, 0.01))
            if got["type"] == "broker":
                self.broker.append(got)
                continue
            assert got["type"] == "notifications", got
            items.extend(got["notifications"])
            cursor, frames = got["cursor"], frames + 1
        return items, cursor, frames

    async def nothing_more(self, wait: float = 0.5) -> None:
        """Assert no frame arrives within ``wait`` seconds."""
        try:
            text = await asyncio.wait_for(self.conn.read_message(), wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {text!r}")

    def close(self) -> None:
        self.conn.close()


def ws_url(http_url: str, path: str = "jln/api/ws") -> str:
    return "ws" + http_url[len("http"):].rstrip("/") + "/" + path


async def connect(url: str, token: str | None = None, **params: str) -> Client:
    """Open a WebSocket to ``url`` (ws://...) with ``token`` and query ``params``."""
    query = urlencode(params)
    headers = {"Authorization": f"token {token}"} if token else {}
    request = HTTPRequest(url + (f"?{query}" if query else ""), headers=headers,
                          connect_timeout=FRAME_TIMEOUT, request_timeout=FRAME_TIMEOUT)
    conn = await asyncio.wait_for(websocket_connect(request), FRAME_TIMEOUT)
    return Client(conn)


async def xadd(server: Any, stream: str, **fields: str | int) -> str:
    """``redis-cli XADD <stream> * field value ...`` against the test Redis; the entry id."""
    args = [str(part) for pair in fields.items() for part in pair]
    reply: str = await asyncio.to_thread(server.cli, "XADD", stream, "*", *args)
    return reply.strip()


def messages(items: list[dict[str, Any]]) -> list[str]:
    return [item["message"] for item in items]
