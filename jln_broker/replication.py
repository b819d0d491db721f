"""Waiting for replicas: a publish counts as acknowledged once enough replicas hold it.

Redis replicates asynchronously: a master that crashes may take with it writes it already
answered, and the replica promoted in its place never had them. With ``wait_replicas=N`` in the
broker URL the publisher follows its write with ``WAIT N timeout`` on the same connection and
hands back ids only once N replicas have the write; short of that it tries again under the same
idempotency key (which writes nothing twice) until its ``retry_for`` runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

DEFAULT_TIMEOUT_MS = 1000
"""How long one ``WAIT`` may block the connection before the publisher tries again."""


class NotReplicated(RedisTimeoutError):
    """Redis took the write but too few replicas confirmed it in time: not acknowledged yet.
    A redis-py timeout, so publishers retry it like a broker out of reach."""


@dataclass(frozen=True)
class ReplicaWait:
    """``WAIT replicas timeout_ms`` after each publish (``?wait_replicas=&wait_timeout=``)."""

    replicas: int
    timeout_ms: int = DEFAULT_TIMEOUT_MS

    def queue(self, pipe: Any) -> None:
        """Queue the ``WAIT`` after the writes already queued on ``pipe`` (one connection)."""
        pipe.wait(self.replicas, self.timeout_ms)

    def confirmed(self, replies: Sequence[Any]) -> list[Any]:
        """The replies of the writes before ``WAIT``'s own, last, reply; each write's answer
        replaced by ``NotReplicated`` when fewer replicas than asked confirmed it."""
        *answers, acked = replies
        if isinstance(acked, BaseException):
            return [acked] * len(answers)
        if int(acked) >= self.replicas:
            return answers
        short = NotReplicated(f"Redis wrote it but {acked} of the {self.replicas} replicas "
                              f"asked for (wait_replicas) confirmed it within {self.timeout_ms} "
                              "ms: not acknowledged")
        return [a if isinstance(a, BaseException) else short for a in answers]
