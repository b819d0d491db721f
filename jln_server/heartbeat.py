"""One timer pinging every open WebSocket, in place of jupyter_server's timer per socket.

``WebSocketMixin`` gives each connection a ``PeriodicCallback`` and its pending timer handle:
about 0.7 KB of an idle connection's ~20 KB. Here one timer ticks ``SLICES`` times an interval
and pings one slice of the sockets each tick, so every socket is still pinged once an interval
(with the mixin's own pong timeout check), and 5,000 sockets are not pinged in one burst that
would hold up deliveries.
"""

from __future__ import annotations

from typing import Protocol

from tornado.ioloop import PeriodicCallback

SLICES = 30


class Pinged(Protocol):
    def send_ping(self) -> None: ...


class Heartbeat:
    """Pings what is added, once every ``interval_ms`` (the first added sets it)."""

    def __init__(self) -> None:
        self._slices: list[set[Pinged]] = [set() for _ in range(SLICES)]
        self._turn = 0
        self._timer: PeriodicCallback | None = None

    def add(self, socket: Pinged, interval_ms: float) -> None:
        self._slices[hash(socket) % SLICES].add(socket)
        if self._timer is None:
            self._timer = PeriodicCallback(self._tick, interval_ms / SLICES)
            self._timer.start()

    def discard(self, socket: Pinged) -> None:
        self._slices[hash(socket) % SLICES].discard(socket)

    def _tick(self) -> None:
        self._turn = (self._turn + 1) % SLICES
        for socket in tuple(self._slices[self._turn]):  # a ping may close one: it leaves
            socket.send_ping()
