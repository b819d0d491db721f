"""Publishing: ``Publisher`` (blocking) and ``AsyncPublisher`` (asyncio), both made from a URL.

Against Redis (``redis://``, ``rediss://``, ``unix://``, ``memory://``) a batch is one
MULTI/EXEC transaction: every target stream of every notification gets its entry, or none does,
in one round trip. Against a Jupyter server (``http(s)://``) it is a POST to its ingest endpoint.
Connection failures are retried with backoff for ``retry_for`` seconds, then raise
``BrokerUnavailable``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .backoff import REFUSED, RETRYABLE, Backoff
from .connection import HTTP_SCHEMES, async_client, scheme_of, sync_client
from .errors import BrokerRefused
from .model import DEFAULT_LIMITS, Limits, Notification, validate
from .protocol import StreamNames, encode_entry

if TYPE_CHECKING:
    from .http import HttpTransport

NotificationLike = Notification | Mapping[str, Any]

_SNAKE_TO_WIRE = {"auto_close": "autoClose", "expires_at": "expiresAt",
                  "not_before": "notBefore", "exclude_users": "excludeUsers"}


def notification_from(message: str, fields: Mapping[str, Any],
                      limits: Limits = DEFAULT_LIMITS) -> Notification:
    """Build a notification from Python-style keyword arguments (``auto_close=False``,
    ``expires_at=datetime``, ``not_before=datetime``, ``users=["ada"]``,
    ``exclude_users=["ada"]``)."""
    raw: dict[str, Any] = {_SNAKE_TO_WIRE.get(k, k): v for k, v in fields.items()}
    for name in ("expiresAt", "notBefore"):
        if isinstance(raw.get(name), datetime):
            raw[name] = raw[name].isoformat()
    return validate({"message": message, **raw}, limits)


def _checked(items: Iterable[NotificationLike], limits: Limits) -> list[Notification]:
    return [n if isinstance(n, Notification) else validate(n, limits) for n in items]


@dataclass(frozen=True)
class _Batch:
    """Notifications planned onto their streams; turns EXEC's flat reply back into ids."""

    names: StreamNames
    maxlen: int
    notifications: Sequence[Notification]

    def queue_on(self, pipe: Any) -> Any:
        for notification in self.notifications:
            fields = encode_entry(notification)
            for stream in self.names.targets(notification):
                pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
        return pipe

    def ids(self, replies: Sequence[bytes | str]) -> list[list[str]]:
        flat = iter(r.decode() if isinstance(r, bytes) else r for r in replies)
        return [[f"{stream}/{next(flat)}" for stream in self.names.targets(n)]
                for n in self.notifications]


class _Options:
    """What both publishers are configured with."""

    def __init__(self, url: str, *, prefix: str = "jln", maxlen: int = 10_000,
                 limits: Limits = DEFAULT_LIMITS, retry_for: float = 10.0,
                 token: str | None = None, secret: str | None = None) -> None:
        self.url = url
        self.scheme = scheme_of(url)
        self.names = StreamNames(prefix)
        self.maxlen = maxlen
        self.limits = limits
        self.retry_for = retry_for
        self.token = token
        self.secret = secret
        self._http = self._http_transport()

    def _http_transport(self) -> HttpTransport | None:
        """Through a Jupyter server's REST ingest, for an http(s) URL; else None (Redis)."""
        if self.scheme not in HTTP_SCHEMES:
            return None
        from .http import HttpTransport  # urllib and friends only when needed

        return HttpTransport(self.url, self.token, self.retry_for, self.secret)

    def batch(self, notifications: Iterable[NotificationLike]) -> _Batch:
        return _Batch(self.names, self.maxlen, _checked(notifications, self.limits))


class Publisher(_Options):
    """Blocking publisher, for scripts and CLIs.

    >>> with Publisher("redis://localhost:6379/0") as pub:
    ...     pub.publish("Training done", type="success", users=["ada"])
    """

    def __init__(self, url: str = "memory://", **options: Any) -> None:
        super().__init__(url, **options)
        self._redis = None if self._http else sync_client(self.url)

    def publish(self, message: str, **fields: Any) -> list[str]:
        """Publish one notification; returns its id on each target stream."""
        return self.publish_many([notification_from(message, fields, self.limits)])[0]

    def publish_many(self, notifications: Iterable[NotificationLike]) -> list[list[str]]:
        """Publish many in one MULTI/EXEC round trip; returns each one's ids."""
        batch = self.batch(notifications)
        if self._http:
            return [self._http.post(n) for n in batch.notifications]
        assert self._redis is not None
        backoff = Backoff(give_up_after=self.retry_for)
        while True:
            try:
                return batch.ids(batch.queue_on(self._redis.pipeline()).execute())
            except RETRYABLE as err:
                time.sleep(backoff.next_delay(err))
            except REFUSED as err:
                raise BrokerRefused(f"Redis refused the write: {_reason(err)}") from err

    def close(self) -> None:
        if self._redis:
            self._redis.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncPublisher(_Options):
    """Asyncio publisher, for services and notebooks with a running loop.

    >>> async with AsyncPublisher("redis://localhost:6379/0") as pub:
    ...     await pub.publish("Job 42 started", type="in-progress", key="job-42")
    """

    def __init__(self, url: str = "memory://", **options: Any) -> None:
        super().__init__(url, **options)
        self._redis = None if self._http else async_client(self.url)

    async def publish(self, message: str, **fields: Any) -> list[str]:
        """Publish one notification; returns its id on each target stream."""
        return (await self.publish_many([notification_from(message, fields, self.limits)]))[0]

    async def publish_many(self, notifications: Iterable[NotificationLike]) -> list[list[str]]:
        """Publish many in one MULTI/EXEC round trip; returns each one's ids."""
        batch = self.batch(notifications)
        if self._http:
            # urllib blocks; a thread keeps the caller's event loop free.
            return [await asyncio.to_thread(self._http.post, n) for n in batch.notifications]
        assert self._redis is not None
        backoff = Backoff(give_up_after=self.retry_for)
        while True:
            try:
                return batch.ids(await batch.queue_on(self._redis.pipeline()).execute())
            except RETRYABLE as err:
                await asyncio.sleep(backoff.next_delay(err))
            except REFUSED as err:
                raise BrokerRefused(f"Redis refused the write: {_reason(err)}") from err

    async def close(self) -> None:
        if self._redis:
            await self._redis.aclose()

    async def __aenter__(self) -> AsyncPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _reason(err: BaseException) -> str:
    """Redis's own words, without redis-py's echo of the (binary) command."""
    return str(err).rsplit("caused error: ", 1)[-1]
