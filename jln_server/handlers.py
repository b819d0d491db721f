"""REST and WebSocket endpoints under ``{base_url}jln/api/``, plus the drop-in alias of the
REST-polling extension this one replaces. The route table is at the bottom."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jln_broker.backoff import REFUSED, RETRYABLE
from jln_broker.errors import BrokerRefused, BrokerUnavailable, TooLarge, ValidationError
from jln_broker.protocol import Cursor

from .fanout import Subscription, frame, now_ms
from .identity import Forbidden, hub_user
from .ratelimit import RateLimited
from .service import NotifyService

AUTH_RESOURCE = "jln"
SECRET_HEADER = "X-JLN-Secret"
CLOSE_TOO_SLOW = 4008
"""Close code for a client whose send queue filled up: reconnect later with the cursor."""

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
_STATUS: dict[type[Exception], int] = {TooLarge: 413, ValidationError: 400, Forbidden: 403,
                                       RateLimited: 429, BrokerRefused: 502,
                                       BrokerUnavailable: 503}
"""The first class an error is an instance of wins: subclasses (TooLarge) before bases."""


class Failure(web.HTTPError):
    """An expected error, carried to ``write_error`` with its field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(status, reason=None)
        self.message = message
        self.field = field


@contextlib.contextmanager
def http_errors() -> Iterator[None]:
    """The one place where our exceptions become HTTP status codes (never a 500)."""
    try:
        yield
    except RETRYABLE as err:
        raise Failure(503, f"the notification broker is unreachable: {err}") from err
    except REFUSED as err:
        raise Failure(502, f"the notification broker refused the request: {err}") from err
    except tuple(_STATUS) as err:
        status = next(code for kind, code in _STATUS.items() if isinstance(err, kind))
        raise Failure(status, str(err), getattr(err, "field", None)) from err


class BaseHandler(APIHandler):
    """JSON in, JSON out, errors as ``{"error", "field"}``."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, service: NotifyService) -> None:
        self.service = service

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        err = kwargs.get("exc_info", (None, None))[1]
        body: dict[str, Any] = {"error": self._reason, "field": None}
        if isinstance(err, Failure):
            body = {"error": err.message, "field": err.field}
        self.error_headers(status_code, err)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def error_headers(self, status_code: int, err: BaseException | None) -> None:
        """``Retry-After`` on a 429; ``Allow`` on a 405, as RFC 9110 requires."""
        if isinstance(err, Failure) and isinstance(err.__cause__, RateLimited):
            self.set_header("Retry-After", str(max(1, round(err.__cause__.retry_after))))
        if status_code == 405:
            own = [m for m in self.SUPPORTED_METHODS if getattr(type(self), m.lower())
                   is not getattr(web.RequestHandler, m.lower())]
            self.set_header("Allow", ", ".join(own))

    def json_body(self) -> dict[str, Any]:
        limit = self.service.limits.max_message_chars * 4 + 65_536
        if len(self.request.body) > limit:
            raise Failure(413, f"body: is {len(self.request.body)} bytes; the limit is {limit}",
                          "body")
        try:
            body = json.loads(self.request.body or b"null")
        except (ValueError, RecursionError) as err:  # also over 4300 digits, or nested too deep
            raise Failure(400, f"body: is not valid JSON ({err})", "body") from None
        if not isinstance(body, dict):
            raise Failure(400, "body: must be a JSON object", "body")
        return body

    async def publish(self, raw: dict[str, Any]) -> list[str]:
        with http_errors():
            return await self.service.publish(
                raw, requester=self.request.remote_ip or "?", current_user=self.current_user,
                secret=self.request.headers.get(SECRET_HEADER))

    def int_argument(self, name: str, default: int, maximum: int) -> int:
        value = self.get_argument(name, str(default))
        # ASCII digits only: int() refuses "²" (isdigit() does not) and over 4300 digits.
        if not _WHOLE_NUMBER.fullmatch(value) or not 1 <= int(value) <= maximum:
            raise Failure(400, f"{name}: must be a whole number from 1 to {maximum}", name)
        return int(value)

    @property
    def _track_activity(self) -> bool:  # type: ignore[override]
        """Polling must not keep an idle server from being culled; publishing may."""
        return self.request.method != "GET"


class NotificationsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Publish one notification to its streams."""
        ids = await self.publish(self.json_body())
        self.set_status(201)
        self.finish({"ids": ids})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The poll fallback: notifications after ``since``, or the newest ``limit``."""
        limit = self.int_argument("limit", 100, 1000)
        since = self.get_argument("since", None)
        await self.service.learn_groups(hub_user(self.current_user))
        with http_errors():
            page = await (self.service.since(Cursor.decode(since), limit) if since
                          else self.service.recent(limit))
        self.finish({"notifications": [d.to_dict() for d in page.items],
                     "cursor": page.cursor.encode(), "more": page.more,
                     "serverTime": now_ms(), "pollInterval": self.service.poll_interval})


class StatusHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Broker reachability, reader lag, connected clients and counters."""
        self.finish(await self.service.status())


class CompatIngestHandler(BaseHandler):
    """``POST jupyterlab-notifications-extension/ingest``, as the REST-polling extension had it."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        err = kwargs.get("exc_info", (None, None))[1]
        self.error_headers(status_code, err)
        self.set_header("Content-Type", "application/json")
        self.finish({"error": err.message if isinstance(err, Failure) else self._reason})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Publish; answer 200 with ``success`` and ``notification_id``."""
        body = self.json_body()
        body.pop("immediate", None)  # everything is pushed now
        ids = await self.publish(body)
        self.finish({"success": True, "notification_id": ids[0]})


class CompatListHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Recent notifications in the REST-polling extension's shape, draining nothing."""
        with http_errors():
            page = await self.service.recent(100)
        self.finish({"notifications": [
            {"id": d.id, "message": d.notification.message, "type": d.notification.type,
             "autoClose": d.notification.auto_close, "createdAt": d.created_at,
             "actions": [a.to_dict() for a in d.notification.actions],
             "data": d.notification.data}
            for d in page.items]})


class NotificationSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Pushes a hello (with the cursor to save), then what the client missed, then live
    batches. A cursor in the query resumes exactly after it."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, service: NotifyService) -> None:
        self.service = service
        self._task: asyncio.Task[None] | None = None
        self._since: Cursor | None = None

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
        super().open(*args, **kwargs)  # starts the heartbeat pings
        self.set_nodelay(True)  # small frames, now: Nagle would hold some back ~40 ms
        self._task = asyncio.create_task(self._serve())

    def on_message(self, message: str | bytes) -> None:
        """Clients have nothing to say: the cursor travels in the URL."""

    def on_close(self) -> None:
        if self._task:
            self._task.cancel()

    async def _serve(self) -> None:
        fanout = self.service.fanout
        sub, until = await fanout.subscribe(self._since)
        try:
            await self._send_hello(self._since or until)
            if self._since is not None:
                async for piece in fanout.replay(self._since, until):
                    await self.write_message(frame([piece]))
            await self._send_live(sub)
        except (WebSocketClosedError, asyncio.CancelledError):
            pass
        except (*RETRYABLE, *REFUSED) as err:  # Redis failed mid-replay: the client retries
            self.close(1011, f"broker unreachable: {err}")
        finally:
            fanout.unsubscribe(sub)

    async def _send_hello(self, cursor: Cursor) -> None:
        owner = self.service.owner
        await self.write_message({"type": "hello", "cursor": cursor.encode(),
                                  "serverTime": now_ms(), "user": owner.name,
                                  "pollInterval": self.service.poll_interval})

    async def _send_live(self, sub: Subscription) -> None:
        while pieces := await sub.next():
            await self._send_unless_gone(frame(pieces), sub)
        if sub.overflowed:
            self.close(CLOSE_TOO_SLOW, "too slow: send queue full; reconnect with your cursor")
        else:
            self.close(1001, "server shutting down")

    async def _send_unless_gone(self, text: str, sub: Subscription) -> None:
        """Send one frame, but stop waiting for it once the subscription overflows: a client
        that stopped reading leaves the write pending forever, and must still be cut off (the
        close frame queues behind it; tornado drops the connection if no answer comes)."""
        sending = asyncio.ensure_future(self.write_message(text))
        gone = asyncio.ensure_future(sub.gone())
        try:
            await asyncio.wait({sending, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not sending.done():  # it fails when the connection drops: expected, not logged
                sending.add_done_callback(lambda done: done.cancelled() or done.exception())
        if sending.done():
            sending.result()


def routes(service: NotifyService) -> list[tuple[str, type, dict[str, Any]]]:
    """The route table; jupyter_server puts its ``base_url`` in front."""
    deps = {"service": service}
    api = "/jln/api"
    compat = "/jupyterlab-notifications-extension"
    return [
        (f"{api}/ws", NotificationSocket, deps),
        (f"{api}/notifications", NotificationsHandler, deps),
        (f"{api}/status", StatusHandler, deps),
        (f"{compat}/ingest", CompatIngestHandler, deps),
        (f"{compat}/notifications", CompatListHandler, deps),
    ]
