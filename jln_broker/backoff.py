"""Capped exponential backoff with jitter, shared by the publisher (retry for a while, then give
up) and the reader (retry forever)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import BrokerUnavailable

RETRYABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError,
                                               ConnectionError, TimeoutError)
"""Errors that mean "the broker is not there right now", as opposed to a bad request."""

REFUSED: tuple[type[BaseException], ...] = (ResponseError,)
"""Redis is there but answers with an error: a reader logs it and retries, since fixing Redis
(a mistyped key, an ACL) must be enough to resume."""


def honour_swallowed_cancel() -> None:
    """redis-py sends through ``asyncio.wait_for``, which on Python 3.11 swallows a cancel that
    lands as the send completes: the call goes on and answers (a read, at most block_ms late)
    or fails. A loop that retries or sleeps after such a call must raise the cancel then, or it
    would go on forever (a task left running holds up the event loop's close)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling and cancelling():
        raise asyncio.CancelledError


@dataclass
class Backoff:
    """Delays of ``initial * 2**n`` seconds, capped, with full jitter so that many servers
    reconnecting after a Redis restart do not arrive in step.

    ``give_up_after`` (seconds, ``None`` for never) bounds the total time spent retrying; past it
    ``next_delay`` raises ``BrokerUnavailable``.
    """

    initial: float = 0.05
    cap: float = 2.0
    give_up_after: float | None = None
    attempts: int = 0
    _started: float = field(default_factory=time.monotonic)

    def next_delay(self, error: BaseException, giving_up: Exception | None = None) -> float:
        """The next wait; once out of time, raises ``giving_up`` (default: ``BrokerUnavailable``)
        from ``error``."""
        self.attempts += 1
        ceiling = min(self.cap, self.initial * 2 ** (self.attempts - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        if self.give_up_after is not None:
            left = self.give_up_after - (time.monotonic() - self._started)
            if left <= 0:
                if giving_up is not None:
                    raise giving_up from error
                raise BrokerUnavailable(f"broker unreachable after {self.attempts} attempts in "
                                        f"{self.give_up_after:g}s: {error}") from error
            delay = min(delay, left)
        return delay

    def reset(self) -> None:
        self.attempts = 0
        self._started = time.monotonic()
