"""A lean WebSocket client, so that hundreds of connections in the benchmark's one process cost
less CPU than the server they measure.

tornado's client (the one the tests use) spends about 20 us of Python per frame in coroutines;
with 100 clients at 200 notifications a second that is half a core, on a machine whose other
core runs the server. This one is an ``asyncio.Protocol`` that parses the frames of whatever
``data_received`` got in one pass and hands each text message, with the moment it arrived, to a
callback. It speaks only what a JLN client needs (RFC 6455 without extensions): the upgrade
request, unmasked text and continuation frames from the server, pings answered with pongs, and
the closing handshake.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import struct
import time
from collections.abc import Callable
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_TEXT, _CONTINUATION, _CLOSE, _PING, _PONG = 0x1, 0x0, 0x8, 0x9, 0xA

OnText = Callable[[str, float], None]
"""Called with each text message and the ``time.perf_counter()`` at which its bytes arrived."""


class HandshakeFailed(Exception):
    """The server answered the upgrade request with something other than 101."""


class Connection(asyncio.Protocol):
    """One WebSocket: ``await connect(...)`` opens it; ``closed`` resolves to the close code
    (1006 when the TCP connection ended without a closing handshake)."""

    def __init__(self, key: str, request: bytes, on_text: OnText) -> None:
        self._key = key
        self._request = request
        self._on_text = on_text
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._upgraded = False
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.close_reason = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        self._buffer += data
        if not self._upgraded and not self._read_handshake():
            return
        self._read_frames(arrived)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost before upgrade: {exc}"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake and drop the connection (the server needs no reply)."""
        if self._transport is not None and not self._transport.is_closing():
            self._send(_CLOSE, struct.pack("!H", code))
            self._transport.close()

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self._transport is not None:
            self._transport.abort()

    def reset(self) -> None:
        """Drop the TCP connection with a reset (RST) instead of a FIN, as a peer that crashed
        or a middlebox that gave up on it would."""
        if self._transport is not None:
            sock = self._transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._transport.abort()

    def _read_handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[:end + 4]
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in head[1:])}
        expected = base64.b64encode(hashlib.sha1(self._key.encode() + _GUID).digest()).decode()
        if head[0].split(" ")[1:2] != ["101"] or headers.get("sec-websocket-accept") != expected:
            self.opened.set_exception(HandshakeFailed(head[0]))
            assert self._transport is not None
            self._transport.close()
            return False
        self._upgraded = True
        self.opened.set_result(None)
        return True

    def _read_frames(self, arrived: float) -> None:
        """Every complete frame in the buffer; a partial one waits for more bytes."""
        buffer, at = self._buffer, 0
        while len(buffer) - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            if second & 0x80:  # a server must never mask (RFC 6455, section 5.1)
                self._fail("the server sent a masked frame")
                return
            length, start = second & 0x7F, at + 2
            if length == 126:
                if len(buffer) - start < 2:
                    break
                length, start = struct.unpack_from("!H", buffer, start)[0], start + 2
            elif length == 127:
                if len(buffer) - start < 8:
                    break
                length, start = struct.unpack_from("!Q", buffer, start)[0], start + 8
            if len(buffer) - start < length:
                break
            payload = bytes(buffer[start:start + length])
            at = start + length
            self._frame(first >> 7, first & 0x0F, payload, arrived)
        del buffer[:at]

    def _frame(self, fin: int, opcode: int, payload: bytes, arrived: float) -> None:
        if opcode in (_TEXT, _CONTINUATION):
            self._fragments.append(payload)
            if fin:
                text = b"".join(self._fragments).decode()
                self._fragments.clear()
                self._on_text(text, arrived)
        elif opcode == _PING:
            self._send(_PONG, payload)
        elif opcode == _CLOSE:
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
            self.close_reason = payload[2:].decode(errors="replace")
            if not self.closed.done():
                self.closed.set_result(code)
            self.close(code if code not in (1005, 1006) else 1000)

    def _fail(self, reason: str) -> None:
        """A protocol error: close code 1002, and the connection dropped."""
        self.close_reason = reason
        if not self.closed.done():
            self.closed.set_result(1002)
        self.close(1002)

    def _send(self, opcode: int, payload: bytes) -> None:
        """A final frame, masked as every client frame must be (payloads here are < 126)."""
        assert self._transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)


async def connect(url: str, token: str, on_text: OnText, timeout: float = 10.0) -> Connection:
    """Open ``ws://host:port/path[?query]`` with a Jupyter token; raises ``HandshakeFailed``,
    ``OSError`` or ``TimeoutError``."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
        raise ValueError(f"need a ws://host:port/... URL, not {url!r}")
    key = base64.b64encode(os.urandom(16)).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nAuthorization: token {token}\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, connection = await asyncio.wait_for(loop.create_connection(
        lambda: Connection(key, request, on_text), parts.hostname, parts.port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(connection.opened), timeout)
    except BaseException:
        connection.opened.cancel()  # nobody will look at it: no "exception never retrieved"
        connection.abort()
        raise
    return connection
