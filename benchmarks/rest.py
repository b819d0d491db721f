"""POSTing notifications to a Jupyter server's REST ingest over keep-alive connections: JLN's
``jln/api/notifications`` (the server suite) or another extension's (the peer suite)."""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .jupyter_process import CpuClock, ServerProcess

JLN_INGEST = "/jln/api/notifications"


class RestClient:
    """POSTs notifications to ``path`` on ``server`` over one keep-alive HTTP/1.1 connection
    (``http.client`` keeps it open between requests), the token in the ``Authorization``
    header as a script would send it."""

    def __init__(self, server: ServerProcess, path: str = JLN_INGEST,
                 timeout: float = 10.0) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        self._path = path
        self._headers = {"Authorization": f"token {server.token}",
                         "Content-Type": "application/json"}

    def post(self, notification: dict[str, Any] | bytes) -> int:
        body = (notification if isinstance(notification, bytes)
                else json.dumps(notification).encode())
        self._conn.request("POST", self._path, body, self._headers)
        response = self._conn.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Posted:
    """What a timed batch of POSTs gave: the answers' statuses, the wall time, and the CPU the
    server and this process spent (``CpuClock.percentages``)."""

    statuses: list[int]
    seconds: float
    cpu: dict[str, int]

    def refused(self, expected: int) -> dict[int, int]:
        """How many answers of each status other than ``expected``."""
        return {s: self.statuses.count(s) for s in set(self.statuses) if s != expected}


def post_concurrently(server: ServerProcess, bodies: Sequence[bytes], connections: int,
                      warm_up: bytes, path: str = JLN_INGEST) -> Posted:
    """``bodies`` spread over ``connections`` keep-alive connections (as even as they go), each
    sending its share one request after another, timed from the first until the last answer.
    Each connection first POSTs ``warm_up``, outside the clock, so it is open and the server
    past its first-use costs."""
    shares = [bodies[c::connections] for c in range(connections)]
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(RestClient(server, path)) for _ in range(connections)]
        for client in clients:
            client.post(warm_up)
        with ThreadPoolExecutor(connections) as pool:
            clock = CpuClock.start(server)
            started = time.perf_counter()
            statuses = [s for part in pool.map(_post_all, clients, shares) for s in part]
            elapsed = time.perf_counter() - started
            cpu = clock.percentages()
    return Posted(statuses, elapsed, cpu)


def _post_all(client: RestClient, bodies: Sequence[bytes]) -> list[int]:
    return [client.post(body) for body in bodies]
