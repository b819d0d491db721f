"""``jln/api/ws``: the WebSocket every JupyterLab tab keeps open.

It pushes a hello (with the cursor to save), then what the client missed after the cursor it
came with, then live frames: batches of notifications, and state changes made in other tabs.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.ioloop import IOLoop
from tornado.iostream import SSLIOStream, StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jln_broker.errors import ValidationError
from jln_broker.protocol import Cursor

from .. import wire
from ..heartbeat import Heartbeat
from ..identity import hub_user
from ..service import NotifyService
from ..subscription import Subscription
from .base import AUTH_RESOURCE, ApiIdentity

CLOSE_TOO_SLOW = 4008
"""Close code for a client whose send queue filled up: reconnect later with the cursor."""

SEND_BUFFER_BYTES = 128 * 1024
"""The kernel's send buffer for each client (Linux doubles it). Left to autotuning, it grows
to 4 MiB for a client that stops reading, held before its queue even starts to fill; notices
need nothing like that bandwidth (this is 2.5 MB/s at 100 ms of round trip)."""


class NotificationSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One tab's connection: the hello and the replay, written here; then live frames, which
    the fan-out writes through ``send`` as they come (no task per connection waits for them).
    Frames are written as built: this socket never negotiates compression."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, service: NotifyService, heartbeat: Heartbeat) -> None:
        self.service = service
        self.heartbeat = heartbeat
        self._task: asyncio.Task[None] | None = None
        self._since: Cursor | None = None
        self._sub: Subscription | None = None
        self._identity: ApiIdentity | None = None

    @property
    def identity_provider(self) -> Any:
        """The server's, as the REST handlers see it: a client with the server's token in a
        header and no cookies (a script, the benchmarks) is spared the login cookie it never
        sends back, which the handler would hold for the connection's life (~2 KB). A
        browser's socket, with its cookie, takes the server's way. Made once a connection."""
        if self._identity is None:
            self._identity = ApiIdentity(super().identity_provider, self.service.policy,
                                         frozenset())
        return self._identity

    @ws_authenticated
    @authorized
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.service.learn_groups(hub_user(self.current_user))
        cursor = self.get_argument("cursor", None)
        if cursor:
            try:
                self._since = Cursor.decode(cursor)
            except ValidationError as err:
                raise web.HTTPError(400, str(err)) from None
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        """Not ``WebSocketMixin.open``, which would start a ping timer for this socket alone:
        the shared heartbeat pings it, with the mixin's ``send_ping``."""
        if self.ping_interval > 0:
            self.last_ping = self.last_pong = IOLoop.current().time()
            self.heartbeat.add(self, self.ping_interval)
        self.set_nodelay(True)  # small frames, now: Nagle would hold some back ~40 ms
        stream = self.ws_connection.stream if self.ws_connection else None
        if stream is not None and not stream.closed():  # the client may be gone already
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        self._task = asyncio.create_task(self._serve())

    def send_ping(self) -> None:
        """The heartbeat's turn: the mixin's ping and pong timeout check, unless the server
        already closed this socket (``on_close`` has yet to let the heartbeat go)."""
        if self.ws_connection is not None:
            super().send_ping()

    def on_message(self, message: str | bytes) -> None:
        """Clients have nothing to say: the cursor travels in the URL, state goes by REST."""

    def on_close(self) -> None:
        """Let go of the subscription, the heartbeat and the task: all refer back to this
        handler, so without this every closed connection waits for the cyclic collector (or
        its next ping)."""
        self.heartbeat.discard(self)
        if self._task:
            self._task.cancel()
            self._task = None
        if self._sub:
            self.service.fanout.unsubscribe(self._sub)
            self._sub = None

    def send(self, frame: bytes) -> int:
        """Write ``frame`` for the fan-out (``Link.send``): straight to the socket when nothing
        waits in the stream's buffer, which keeps the order, with no future, task or copy per
        client; what the kernel does not take waits in the stream's buffer, and the
        subscription hears when it has gone. A TLS stream is always written through tornado."""
        connection = self.ws_connection
        if connection is None or connection.is_closing() or (stream := connection.stream) is None:
            return 0  # gone, or going: on_close lets the subscription go
        if not stream.writing() and not isinstance(stream, SSLIOStream):
            try:
                written = stream.socket.send(frame)
            except OSError:  # full (EAGAIN) or broken: tornado's write below finds out which
                written = 0
            if written == len(frame):
                return 0
            frame = frame[written:]
        try:
            writing = stream.write(frame)
        except StreamClosedError:
            return 0
        if writing.done():
            return 0
        writing.add_done_callback(self._written)
        return len(frame)

    def end(self, overflowed: bool) -> None:
        """Close for the fan-out (``Link.end``), which lets the subscription go at once. The
        close frame queues behind what the stream holds; tornado drops a client that does
        not answer it within 5 s."""
        if self._sub:
            self.service.fanout.unsubscribe(self._sub)
            self._sub = None
        if overflowed:
            self.close(CLOSE_TOO_SLOW, "too slow: send queue full; reconnect with your cursor")
        else:
            self.close(1001, "server shutting down")

    def _written(self, _: object) -> None:
        if self._sub:
            self._sub.sent()

    async def _serve(self) -> None:
        """Hello, what the client missed, then live. While the streams cannot be read (Redis
        down since the server started) the hello says so at once, and the rest follows once
        they can, with a cursor for a client that came without one. Once live, this task
        ends: the fan-out writes the rest."""
        fanout = self.service.fanout
        waited = not fanout.loaded
        try:
            told = await self._hello(self._since) if waited else None
            subscribed = await fanout.subscribe(self._since)
        except (WebSocketClosedError, asyncio.CancelledError):
            return
        self._sub = subscribed.sub  # on_close lets it go, from now on
        try:
            if waited:
                if told != wire.broker_state(fanout.decoder.stats):
                    await self.write_message(wire.broker_frame(fanout.decoder.stats))
            else:
                await self.service.history.refresh()  # another server of the owner marked
                await self._hello(self._since or subscribed.until)
            if subscribed.gaps:
                await self.write_message(wire.gap_frame(subscribed.gaps))
            if subscribed.since is not None:
                for piece in fanout.replay(subscribed.since, subscribed.until):
                    await self.write_message(wire.notifications_frame([piece]))
            elif waited:
                await self.write_message(wire.notifications_frame(
                    [wire.Piece.of([], subscribed.until)]))
        except (WebSocketClosedError, asyncio.CancelledError):
            return
        subscribed.sub.attach(self)
        self._task = None

    async def _hello(self, cursor: Cursor | None) -> wire.Json:
        """Say hello; return the broker state it told."""
        broker = wire.broker_state(self.service.fanout.decoder.stats)
        await self.write_message(wire.hello(
            cursor, self.service.owner.name, self.service.poll_interval,
            self.service.history.unread_now(), broker))
        return broker
