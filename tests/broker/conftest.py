"""Fixtures of the broker tests: a publisher on each broker (``broker_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from jln_broker.publisher import AsyncPublisher


@pytest_asyncio.fixture
async def publisher(broker_url: str) -> AsyncIterator[AsyncPublisher]:
    """An asyncio publisher on ``broker_url``, closed after the test."""
    async with AsyncPublisher(broker_url) as pub:
        yield pub
