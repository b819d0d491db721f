"""Group commit for the REST ingest: requests that arrive while the server is busy (in the same
event-loop turn, or while the previous group's round trip is under way) are written to Redis
together, one pipelined round trip for the group. Each request keeps its own idempotency key,
its own all-or-nothing write and its own answer or error; only the round trip is shared."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from jln_broker.errors import BrokerUnavailable, JLNError
from jln_broker.model import Notification
from jln_broker.publisher import AsyncPublisher

MAX_GROUP = 256
"""Requests written in one round trip at most; more wait for the next."""


@dataclass(frozen=True)
class _Waiting:
    notifications: Sequence[Notification]
    idempotency_key: str | None
    answer: asyncio.Future[list[list[str]]]


class GroupCommit:
    """One writer task at a time, started by the first request of a quiet moment: it takes
    every request waiting, writes them in one round trip, answers each, and goes on while more
    came meanwhile."""

    def __init__(self, publisher: AsyncPublisher, max_group: int = MAX_GROUP) -> None:
        self._publisher = publisher
        self._max_group = max_group
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def publish(self, notifications: Sequence[Notification],
                      idempotency_key: str | None) -> list[list[str]]:
        """Write ``notifications`` all or nothing under ``idempotency_key``, with whatever else
        is waiting; each one's ids, or the broker error that refused this request."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[list[str]]] = loop.create_future()
        self._waiting.append(_Waiting(notifications, idempotency_key, answer))
        if self._writer is None:  # runs next turn: the rest of this turn's requests join
            self._writer = loop.create_task(self._write(), name="jln-ingest")
        return await answer

    async def _write(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[:self._max_group]
                del self._waiting[:self._max_group]
                await self._write_group(group)
        finally:
            self._writer = None
            self._fail(self._waiting, BrokerUnavailable("the server is stopping"))
            self._waiting = []

    async def _write_group(self, group: list[_Waiting]) -> None:
        try:
            answers = await self._publisher.publish_each(
                [(w.notifications, w.idempotency_key) for w in group])
        except Exception as err:  # not a refusal (those are answers): this group fails alone
            self._fail(group, err)
            return
        except BaseException:
            self._fail(group, BrokerUnavailable("the server is stopping"))
            raise
        for waiting, answer in zip(group, answers, strict=True):
            if waiting.answer.done():  # its request was cancelled
                continue
            if isinstance(answer, JLNError):
                waiting.answer.set_exception(answer)
            else:
                waiting.answer.set_result(answer)

    @staticmethod
    def _fail(group: Sequence[_Waiting], err: Exception) -> None:
        for waiting in group:
            if not waiting.answer.done():
                waiting.answer.set_exception(err)

    async def close(self) -> None:
        """Wait for the requests already taken (a shutdown should not drop an answer)."""
        if self._writer is not None:
            await asyncio.wait([self._writer], timeout=5)
