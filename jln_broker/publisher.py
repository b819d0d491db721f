"""Publishing: ``Publisher`` (blocking) and ``AsyncPublisher`` (asyncio), both made from a URL.

Against Redis (``redis://``, ``rediss://``, ``unix://``) a batch is one Lua script: it checks
that every target key is a stream (or absent) and that the ACL lets this user write it before
writing anything, then adds every entry, in one round trip; all or nothing.
Each call carries an idempotency key, the caller's (kept 24 h) or one of its own (kept while it
may retry): a key already used answers the first call's ids and writes nothing, so a retry
after a lost reply never writes twice. The embedded broker (``memory://``) does the script's
work in this process without Lua (``embedded_publish``), and a call there has no reply to lose,
so no key of its own.
Against a Jupyter server (``http(s)://``) each notification is a POST to its ingest endpoint
with an ``Idempotency-Key`` (the caller's, else a random one). Connection failures are retried
with backoff for ``retry_for`` seconds, then raise ``BrokerUnavailable``; so is a read-only
replica (after reconnecting, so that a failover behind a proxy or a DNS name heals), then
``BrokerReadOnly``. Redis full or refusing the user raises at once (``refusals``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError, ReadOnlyError

from .backoff import REFUSED, RETRYABLE, Backoff
from .connection import (
    async_client,
    drop_idle_connections,
    drop_idle_connections_sync,
    key_prefix,
    kind,
    replica_wait,
    sync_client,
)
from .errors import BrokerRefused, JLNError, ValidationError
from .model import DEFAULT_LIMITS, Limits, Notification, checked_wire, pack, validate
from .protocol import StreamNames
from .receipts import ReadWait, Receipts, read_receipts, read_receipts_sync
from .refusals import refusal, worth_retrying

if TYPE_CHECKING:
    from .embedded_publish import EmbeddedPublish
    from .http import HttpTransport

NotificationLike = Notification | Mapping[str, Any]

_SNAKE_TO_WIRE = {"auto_close": "autoClose", "expires_at": "expiresAt",
                  "not_before": "notBefore", "exclude_users": "excludeUsers",
                  "require_ack": "requireAck"}


def notification_from(message: str, fields: Mapping[str, Any],
                      limits: Limits = DEFAULT_LIMITS) -> Notification:
    """Build a notification from Python-style keyword arguments (``auto_close=False``,
    ``expires_at=datetime``, ``not_before=datetime``, ``users=["ada"]``,
    ``exclude_users=["ada"]``, ``pinned=True``, ``require_ack=True``)."""
    raw: dict[str, Any] = {_SNAKE_TO_WIRE.get(k, k): v for k, v in fields.items()}
    for name in ("expiresAt", "notBefore"):
        if isinstance(raw.get(name), datetime):
            raw[name] = raw[name].isoformat()
    return validate({"message": message, **raw}, limits)


def _checked(items: Iterable[NotificationLike], limits: Limits) -> list[Notification]:
    """Each one checked (a Notification already was); a problem names its place, ``[3].type``."""
    checked: list[Notification] = []
    for item in items:
        try:
            checked.append(item if isinstance(item, Notification) else validate(item, limits))
        except ValidationError as err:
            raise err.within(f"[{len(checked)}]") from None
    return checked


IDEMPOTENCY_TTL_MS = 86_400_000
"""How long a caller's idempotency key is remembered: 24 h."""
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,200}")  # it travels as an HTTP header too

PUBLISH_LUA = r"""
local done = redis.call('GET', KEYS[1])
if done then return done end
local function refused(...)
  return redis.acl_check_cmd ~= nil and not redis.acl_check_cmd(...)
end
if refused('SET', KEYS[1], '[]', 'PX', ARGV[1]) then
  return redis.error_reply('NOPERM this user may not SET ' .. KEYS[1] ..
                           ': nothing was written')
end
for i = 2, #KEYS do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind ~= 'stream' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' holds a ' .. kind ..
                             ', not a stream: nothing was written')
  end
  if refused('XADD', KEYS[i], 'MAXLEN', '~', ARGV[2], '*', 'p', '') then
    return redis.error_reply('NOPERM this user may not XADD to ' .. KEYS[i] ..
                             ': nothing was written')
  end
end
-- Each stream's part of an id, as a JSON string's start: quoted once, not once per entry.
local heads = {}
for i = 2, #KEYS do
  heads[i] = '"' .. KEYS[i]:gsub('[%z\1-\31"\\]', function(c)
    return string.format('\\u%04x', c:byte())
  end) .. '/'
end
local maxlen = ARGV[2]
local ids, count = {}, 0
for a = 3, #ARGV, 2 do
  local payload, targets = ARGV[a], ARGV[a + 1]
  local one = tonumber(targets)
  count = count + 1
  if one then
    ids[count] = '[' .. heads[one] ..
                 redis.call('XADD', KEYS[one], 'MAXLEN', '~', maxlen, '*', 'p', payload) .. '"]'
  else
    local mine = {}
    for k in targets:gmatch('%d+') do
      k = tonumber(k)
      mine[#mine + 1] = heads[k] ..
                        redis.call('XADD', KEYS[k], 'MAXLEN', '~', maxlen, '*', 'p', payload) .. '"'
    end
    ids[count] = '[' .. table.concat(mine, ',') .. ']'
  end
end
done = '[' .. table.concat(ids, ',') .. ']'
redis.call('SET', KEYS[1], done, 'PX', ARGV[1])
return done
"""
"""KEYS: the idempotency key, then each target stream once. ARGV: how long to remember the key
(ms), MAXLEN, then per notification its payload and its streams' KEYS numbers (``"2"``, or
``"2,3"``). The answer (and what the key remembers) is JSON, each notification's ids in order:
``[["jln:user:ada/1700000000000-0", ...], ...]``. Entries are added notification by
notification, so each stream holds them in the batch's order; the type and ACL checks and the
quoting run once per stream, not once per entry.

Before the first write the script asks the ACL (``redis.acl_check_cmd``, Redis 7) whether each
write is allowed: Redis checks a script's commands one by one as it runs them, so a user allowed
XADD but not SET would otherwise leave entries without the key that stops a retry writing them
again. Redis refuses ``OOM`` only at a script's first write, and a replica any write, so those
leave nothing behind either. (Redis 6 has no ``acl_check_cmd``: there the ACL is met as the
script goes.)"""


def checked_idempotency_key(key: str | None) -> str | None:
    """A caller's key: 1 to 200 printable ASCII characters, no spaces."""
    if key is not None and (not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key)):
        raise ValidationError("idempotencyKey", "must be 1 to 200 printable ASCII characters "
                                                f"without spaces, not {key!r:.60}")
    return key


@dataclass(frozen=True)
class _Batch:
    """Notifications checked and planned onto their streams, as the publish script's keys and
    arguments; turns its answer back into each notification's ids."""

    names: StreamNames
    maxlen: int
    streams: Sequence[str]
    """Each target stream once, in the order the batch first names it."""
    entries: Sequence[bytes | str]
    """Per notification: its msgpack payload, then its streams' numbers in the script's KEYS
    (``"2"``, ``"2,3"``)."""
    own_key: bool = True
    """Whether a call without the caller's key gets one of the publisher's own. That key only
    makes a retry after a lost reply safe; the embedded broker answers in this process, with no
    reply to lose, so there a call without a key has none (``""``)."""

    @classmethod
    def planned(cls, items: Iterable[NotificationLike], names: StreamNames, maxlen: int,
                limits: Limits, own_key: bool = True) -> _Batch:
        """Check each one (a Notification already was) and pack it, once; a mapping goes
        straight to its payload, no Notification made. A problem names its place:
        ``[3].type``."""
        streams: dict[str, int] = {}  # stream -> its number in KEYS (1-based, after the key)
        plans: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}  # audience -> numbers
        entries: list[bytes | str] = []
        for item in items:
            try:
                if isinstance(item, Notification):
                    payload, users, groups = item.packed, item.users, item.groups
                else:
                    wire, users, groups = checked_wire(item, limits)
                    payload = pack(wire)
            except ValidationError as err:
                raise err.within(f"[{len(entries) // 2}]") from None
            plan = plans.get((users, groups))
            if plan is None:
                plan = plans[users, groups] = ",".join(
                    str(streams.setdefault(s, len(streams) + 2))
                    for s in names.targets_of(users, groups))
            entries += (payload, plan)
        return cls(names, maxlen, list(streams), entries, own_key)

    def script_call(self, idempotency_key: str | None, retry_for: float
                    ) -> tuple[list[str], list[Any]]:
        """(keys, args): the caller's key kept 24 h, else a key of our own kept while we may
        still retry (or none, ``own_key``)."""
        if idempotency_key is not None:
            key, ttl = self.names.idempotency(idempotency_key), IDEMPOTENCY_TTL_MS
        elif self.own_key:
            key = self.names.idempotency(f"auto:{uuid.uuid4().hex}")
            ttl = int((retry_for + 60) * 1000)
        else:
            key, ttl = "", 0
        return [key, *self.streams], [ttl, self.maxlen, *self.entries]

    def ids(self, answer: bytes | str) -> list[list[str]]:
        """The script's answer: this call's ids, or the first call's with the same key."""
        ids = json.loads(answer)
        if not (isinstance(ids, list) and all(isinstance(i, list) for i in ids)):
            raise BrokerRefused(f"the publish script answered {answer!r:.200}, not ids")
        return ids


class _Options:
    """What both publishers are configured with."""

    def __init__(self, url: str | None = None, *, prefix: str = "jln", maxlen: int = 10_000,
                 limits: Limits = DEFAULT_LIMITS, retry_for: float = 10.0,
                 token: str | None = None, secret: str | None = None) -> None:
        if url is None:
            from .discovery import default_broker  # reads Jupyter's runtime files

            url, token = default_broker(None, token, publishing=True)
        self.url = url
        self.kind = kind(url)
        self.names = StreamNames(prefix if self.kind == "http" else key_prefix(url, prefix))
        self.replicas = None if self.kind == "http" else replica_wait(url)
        """With ``?wait_replicas=N`` in the URL: ids are handed back only once N replicas
        have the write (``replication``)."""
        self.maxlen = maxlen
        self.limits = limits
        self.retry_for = retry_for
        self.token = token
        self.secret = secret
        self._http = self._http_transport()
        self._embedded = self._embedded_publish()

    def _embedded_publish(self) -> EmbeddedPublish | None:
        """For the embedded broker (memory://): the publish script's work done in this process
        without Lua (``embedded_publish``); else None (Redis runs the script)."""
        if self.kind != "memory":
            return None
        from .embedded_publish import EmbeddedPublish  # fakeredis only when needed

        return EmbeddedPublish(self.url)

    def _http_transport(self) -> HttpTransport | None:
        """Through a Jupyter server's REST ingest, for an http(s) URL; else None (Redis)."""
        if self.kind != "http":
            return None
        from .discovery import ancestry_for
        from .http import HttpTransport  # urllib and friends only when needed

        return HttpTransport(self.url, self.token, self.retry_for, self.secret,
                             ancestry_for(self.url))

    def batch(self, notifications: Iterable[NotificationLike]) -> _Batch:
        return _Batch.planned(notifications, self.names, self.maxlen, self.limits,
                              own_key=self._embedded is None)

    def _requests(self, notifications: Iterable[NotificationLike], idempotency_key: str | None
                 ) -> list[tuple[Notification, str]]:
        """Through a Jupyter server: each notification with the key of its request."""
        checked = _checked(notifications, self.limits)
        keys = request_keys(checked_idempotency_key(idempotency_key), len(checked))
        return list(zip(checked, keys, strict=True))


class Publisher(_Options):
    """Blocking publisher, for scripts and CLIs.

    >>> with Publisher("redis://localhost:6379/0") as pub:
    ...     pub.publish("Training done", type="success", users=["ada"])

    Without a URL: the Jupyter server this kernel or terminal belongs to (``$JLN_SERVER_URL``),
    else ``$JLN_URL``, else the Jupyter server running on this machine.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self._redis = None if self._http else sync_client(self.url)
        self._script = self._redis.register_script(PUBLISH_LUA) if self._redis else None

    def publish(self, message: str, *, idempotency_key: str | None = None,
                **fields: Any) -> list[str]:
        """Publish one notification; returns its id on each target stream."""
        return self.publish_many([notification_from(message, fields, self.limits)],
                                 idempotency_key=idempotency_key)[0]

    def publish_many(self, notifications: Iterable[NotificationLike], *,
                     idempotency_key: str | None = None) -> list[list[str]]:
        """Publish many in one round trip, all or nothing, and return each one's ids (through a
        Jupyter server: one request each)."""
        if self._http:
            return [self._http.post(n, k) for n, k in self._requests(notifications,
                                                                    idempotency_key)]
        batch = self.batch(notifications)
        key = checked_idempotency_key(idempotency_key)
        assert self._script is not None and self._redis is not None
        keys, args = batch.script_call(key, self.retry_for)
        backoff = Backoff(give_up_after=self.retry_for)
        while True:
            try:
                return batch.ids(self._call(keys, args))
            except (*RETRYABLE, *REFUSED) as err:
                delay = _retry_delay(err, backoff, keys)
                if isinstance(err, ReadOnlyError):
                    drop_idle_connections_sync(self._redis)
                time.sleep(delay)

    def _call(self, keys: list[str], args: list[Any]) -> Any:
        """The publish script's answer, once the replicas asked for have the write."""
        if self._embedded:
            return self._embedded(keys, args)
        assert self._script is not None and self._redis is not None
        if self.replicas is None:
            return self._script(keys=keys, args=args)
        pipe = self._redis.pipeline(transaction=False)  # WAIT counts this connection's writes
        self._script(keys=keys, args=args, client=pipe)
        self.replicas.queue(pipe)
        return _raised(self.replicas.confirmed(pipe.execute(raise_on_error=False))[0])

    def wait_read(self, ids: Sequence[str], timeout: float) -> dict[str, Receipts]:
        """Each id's receipts, once every target of every id has read it or ``timeout``
        seconds have passed (then ``unread`` says who has not)."""
        wait = ReadWait(timeout)
        while True:
            found = {i: self._receipts(i) for i in ids}
            if wait.over(found):
                return found
            time.sleep(wait.pause())

    def _receipts(self, notification_id: str) -> Receipts:
        if self._http:
            return self._http.receipts(notification_id)
        assert self._redis is not None
        return read_receipts_sync(self._redis, self.names, notification_id)

    def close(self) -> None:
        if self._embedded:
            self._embedded.close()
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

    Without a URL: the Jupyter server this kernel or terminal belongs to (``$JLN_SERVER_URL``),
    else ``$JLN_URL``, else the Jupyter server running on this machine.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self._redis = None if self._http else async_client(self.url)
        self._script = self._redis.register_script(PUBLISH_LUA) if self._redis else None

    async def publish(self, message: str, *, idempotency_key: str | None = None,
                      **fields: Any) -> list[str]:
        """Publish one notification; returns its id on each target stream."""
        return (await self.publish_many([notification_from(message, fields, self.limits)],
                                        idempotency_key=idempotency_key))[0]

    async def publish_many(self, notifications: Iterable[NotificationLike], *,
                           idempotency_key: str | None = None) -> list[list[str]]:
        """Publish many in one round trip, all or nothing, and return each one's ids (through a
        Jupyter server: one request each)."""
        if self._http:
            # urllib blocks; a thread keeps the caller's event loop free.
            return [await asyncio.to_thread(self._http.post, n, k)
                    for n, k in self._requests(notifications, idempotency_key)]
        batch = self.batch(notifications)
        key = checked_idempotency_key(idempotency_key)
        assert self._script is not None and self._redis is not None
        keys, args = batch.script_call(key, self.retry_for)
        backoff = Backoff(give_up_after=self.retry_for)
        while True:
            try:
                if self._embedded:
                    answer = self._embedded(keys, args)
                elif self.replicas is None:
                    answer = await self._script(keys=keys, args=args)
                else:
                    answer = _raised((await self._evalsha_all([(keys, args)]))[0])
                return batch.ids(answer)
            except NoScriptError:
                backoff.next_delay(NoScriptError())  # loaded now: again at once
            except (*RETRYABLE, *REFUSED) as err:
                delay = _retry_delay(err, backoff, keys)
                if isinstance(err, ReadOnlyError):
                    await drop_idle_connections(self._redis)
                await asyncio.sleep(delay)

    async def publish_each(self, requests: Sequence[tuple[Sequence[Notification], str | None]]
                           ) -> list[list[list[str]] | JLNError]:
        """Several independent ``publish_many`` calls (notifications, idempotency key) in one
        pipelined round trip to Redis: each all or nothing under its own key, each answered
        with its ids or the error that refused it; one failing leaves the others be. A
        connection failure retries what is unanswered (the keys make that safe)."""
        if self._redis is None or self._script is None:
            raise TypeError("publish_each writes to Redis, not through a Jupyter server")
        answers: list[list[list[str]] | JLNError] = []
        calls: dict[int, tuple[_Batch, list[str], list[Any], Backoff]] = {}
        for n, (notifications, key) in enumerate(requests):
            answers.append([])
            try:
                batch = self.batch(notifications)
                keys, args = batch.script_call(checked_idempotency_key(key), self.retry_for)
            except JLNError as err:
                answers[n] = err
                continue
            calls[n] = batch, keys, args, Backoff(give_up_after=self.retry_for)
        while calls:
            replies = await self._evalsha_all([(keys, args) for _, keys, args, _ in
                                               calls.values()])
            delays = []
            for n, reply in zip(list(calls), replies, strict=True):
                batch, keys, _, backoff = calls[n]
                try:
                    if isinstance(reply, NoScriptError):  # loaded now: again at once
                        backoff.next_delay(reply)
                        delays.append(0.0)
                        continue
                    if isinstance(reply, BaseException):
                        delays.append(_retry_delay(reply, backoff, keys))
                        continue
                    answers[n] = batch.ids(reply)
                except JLNError as err:  # refused, or out of time
                    answers[n] = err
                del calls[n]
            if any(isinstance(r, ReadOnlyError) for r in replies):
                await drop_idle_connections(self._redis)
            if calls and delays:
                await asyncio.sleep(min(delays))
        return answers

    async def _evalsha_all(self, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        """The publish script once per call, pipelined (no MULTI: each call is atomic on its
        own); each reply, or the error answering it. A script Redis does not know (restarted,
        flushed) is loaded for the next try. The embedded broker answers them at once."""
        if self._embedded:
            return self._embedded.answers(calls)
        assert self._redis is not None and self._script is not None
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        if self.replicas:
            self.replicas.queue(pipe)  # after every write: WAIT counts this connection's
        try:
            replies: list[Any] = await pipe.execute(raise_on_error=False)
            if self.replicas:
                replies = self.replicas.confirmed(replies)
            if any(isinstance(r, NoScriptError) for r in replies):
                await self._redis.script_load(PUBLISH_LUA)
        except RETRYABLE as err:
            return [err] * len(calls)
        return replies

    async def wait_read(self, ids: Sequence[str], timeout: float) -> dict[str, Receipts]:
        """Each id's receipts, once every target of every id has read it or ``timeout``
        seconds have passed (then ``unread`` says who has not)."""
        wait = ReadWait(timeout)
        while True:
            found = {i: await self._receipts(i) for i in ids}
            if wait.over(found):
                return found
            await asyncio.sleep(wait.pause())

    async def _receipts(self, notification_id: str) -> Receipts:
        if self._http:
            return await asyncio.to_thread(self._http.receipts, notification_id)
        assert self._redis is not None
        return await read_receipts(self._redis, self.names, notification_id)

    async def close(self) -> None:
        if self._embedded:
            self._embedded.close()
        if self._redis:
            await self._redis.aclose()

    async def __aenter__(self) -> AsyncPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def request_keys(key: str | None, count: int) -> list[str]:
    """Through a Jupyter server each notification is a request of its own, with an
    ``Idempotency-Key`` of its own: the caller's key as it is for one notification, or with
    ``/<n>`` for several (a digest of it when that would be too long); without one, a random
    key per notification, so that the transport's retries never write twice."""
    if key is None:
        return [f"auto-{uuid.uuid4().hex}" for _ in range(count)]
    if count == 1:
        return [key]
    if len(key) + len(f"/{count - 1}") > 200:
        key = hashlib.sha256(key.encode()).hexdigest()
    return [f"{key}/{n}" for n in range(count)]


def _raised(reply: Any) -> Any:
    """A pipelined reply, or the error it is raised."""
    if isinstance(reply, BaseException):
        raise reply
    return reply


def _retry_delay(err: BaseException, backoff: Backoff, keys: Sequence[str]) -> float:
    """Seconds to wait before trying again, or raise what the failure means; ``keys`` are the
    script's (the idempotency key, then the targets), none of which a refused call wrote."""
    if not worth_retrying(err):
        raise refusal(err, keys[1:]) from err
    return backoff.next_delay(err, refusal(err, keys[1:]) if isinstance(err, REFUSED) else None)
