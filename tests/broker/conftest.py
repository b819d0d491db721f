"""Fixtures of the broker tests: a publisher and histories on each broker (``broker_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio

from jln_broker.connection import async_client
from jln_broker.history import History
from jln_broker.protocol import StreamNames
from jln_broker.publisher import AsyncPublisher
from jln_broker.reader import Decoder


@pytest_asyncio.fixture
async def publisher(broker_url: str) -> AsyncIterator[AsyncPublisher]:
    """An asyncio publisher on ``broker_url``, closed after the test."""
    async with AsyncPublisher(broker_url) as pub:
        yield pub


@pytest_asyncio.fixture
async def open_history(broker_url: str
                       ) -> AsyncIterator[Callable[..., Awaitable[History]]]:
    """``await open_history(user, groups)``: a loaded History, closed after the test."""
    names = StreamNames()
    opened: list[History] = []

    async def open_one(user: str = "ada", groups: tuple[str, ...] = ("ml",)) -> History:
        history = History(async_client(broker_url), names, user, Decoder(keep_expired=True))
        await history.load(names.audience(user, groups))
        opened.append(history)
        return history

    yield open_one
    for history in opened:
        await history.client.aclose()
