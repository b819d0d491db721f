"""Talking to a Jupyter server's JLN endpoints with the standard library alone.

A publisher on a machine without Redis credentials (a notebook's terminal, a CI runner with a
Jupyter token) posts to the server, which validates the notification and writes it to Redis.
``ServerAPI`` knows where the endpoints are and how to authenticate; ``HttpTransport`` is the
publisher's use of it, with retries while the server is restarting or unreachable.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from .backoff import Backoff
from .connection import redact
from .errors import (
    BrokerUnavailable,
    JLNError,
    NotFound,
    PublishRejected,
    TooLarge,
    ValidationError,
)
from .model import Notification
from .receipts import Receipts

log = logging.getLogger("jln.http")

NOTIFICATIONS_PATH = "jln/api/notifications"
"""POST publishes (201 with the ids); GET is the polling feed."""
STATUS_PATH = "jln/api/status"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ANCESTRY_HEADER = "X-JLN-Ancestry"
"""The publishing process's ancestry, comma-separated pids nearest first (see ``discovery``)."""
TOKEN_ENV = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTER_TOKEN")
"""Where a token is found when none is given, in this order: JupyterHub's, then a plain server's."""
SECRET_ENV = "JLN_SECRET"
REQUEST_TIMEOUT = 10.0

_RETRY_STATUS = frozenset({502, 503, 504})  # a proxy or a restarting server: worth waiting for
_APP_PAGES = frozenset({"lab", "tree"})


def split_base(url: str) -> tuple[str, str | None]:
    """A server URL as the base the API paths hang from (ending in ``/``, without a query) and
    the token its ``?token=`` query carried.

    Jupyter prints its address as ``http://host:8888/lab?token=...``; base URLs always end in
    ``/``, so a last segment ``lab`` or ``tree`` without one is the application page, not part
    of the base, and is dropped so that the printed address can be pasted as it is.
    """
    parts = urlsplit(url)
    token = dict(parse_qsl(parts.query)).get("token") or None
    head, _, last = parts.path.rpartition("/")
    path = f"{head}/" if last in _APP_PAGES else f"{parts.path.rstrip('/')}/"
    return parts._replace(path=path, query="", fragment="").geturl(), token


def resolve_token(url_token: str | None, token: str | None) -> str | None:
    """The first token found: in the URL, given, then in the environment (``TOKEN_ENV``)."""
    candidates = (url_token, token, *(os.environ.get(name) for name in TOKEN_ENV))
    return next((t for t in candidates if t), None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """An API call redirected is a login page in disguise; report it rather than follow it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class ServerAPI:
    """One Jupyter server's JLN endpoints, with its token and the publishers' shared secret."""

    def __init__(self, url: str, token: str | None = None, secret: str | None = None, *,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        self.base, url_token = split_base(url)
        self.token = resolve_token(url_token, token)
        self.secret = secret or os.environ.get(SECRET_ENV) or None
        self.timeout = timeout

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        return self.base + path + (f"?{urlencode(query)}" if query else "")

    def call(self, method: str, path: str, *, body: Any = None,
             query: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One request; returns the status and the JSON answer.

        Raises ``BrokerUnavailable`` when the server cannot be reached or answers 502-504 (worth
        retrying), and the ``JLNError`` its error answer stands for otherwise.
        """
        url = self.url(path, query)
        request = urllib.request.Request(url, method=method,
                                         headers={**self._headers(body), **(headers or {})},
                                         data=None if body is None else json.dumps(body).encode())
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                return response.status, _json_answer(response.status, response.read())
        except urllib.error.HTTPError as err:
            raise _error_for(url, err.code, err.reason, err.read()) from None
        except urllib.error.URLError as err:
            raise BrokerUnavailable(f"{redact(url)}: {err.reason}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
            raise BrokerUnavailable(f"{redact(url)}: {err}") from None

    def call_retrying(self, method: str, path: str, backoff: Backoff, *, body: Any = None,
                      query: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """``call``, sleeping between attempts while the server is unavailable, until
        ``backoff`` gives up."""
        while True:
            try:
                return self.call(method, path, body=body, query=query, headers=headers)
            except BrokerUnavailable as err:
                if backoff.attempts == 0:  # say why we wait, once
                    log.warning("%s; retrying", err)
                time.sleep(backoff.next_delay(err))

    def _headers(self, body: Any) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if self.secret:
            headers["X-JLN-Secret"] = self.secret
        return headers


def _json_answer(status: int, raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise PublishRejected(status, "the answer is not JSON; is jln_server enabled on this "
                                      "Jupyter server?") from None


def _error_for(url: str, status: int, reason: str, raw: bytes) -> JLNError:
    """The exception an error answer stands for; the body is ``{"error", "field"}`` JSON."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("error") or body.get("message") or reason)
    field = str(body.get("field") or "notification")
    if status == 413:
        return TooLarge(field, message)
    if status == 400:
        return ValidationError(field, message)
    if status in _RETRY_STATUS:
        return BrokerUnavailable(f"{redact(url)}: HTTP {status} {message}")
    if 300 <= status < 400:
        message += " (a redirect, probably to a login page: check the token)"
    elif status == 404 and "error" not in body:  # not our handler's answer
        message += " (is jln_server enabled on this Jupyter server?)"
    return PublishRejected(status, message)


class HttpTransport:
    """The publisher's way through a Jupyter server: POST each notification to the ingest
    endpoint, retrying for ``retry_for`` seconds while the server is unreachable."""

    def __init__(self, url: str, token: str | None, retry_for: float,
                 secret: str | None = None, ancestry: list[int] | None = None) -> None:
        self.api = ServerAPI(url, token, secret)
        self.retry_for = retry_for
        self.ancestry = ancestry or []

    def post(self, notification: Notification, idempotency_key: str | None = None
             ) -> list[str]:
        """Publish one notification; returns its ids (``<stream>/<entry-id>``). With a key,
        a retry after a lost answer writes nothing twice. Without a return address, our
        ancestry (when we have it) lets the server give it the terminal we run in."""
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        if self.ancestry and notification.source is None:
            headers[ANCESTRY_HEADER] = ",".join(map(str, self.ancestry))
        status, answer = self.api.call_retrying(
            "POST", NOTIFICATIONS_PATH, Backoff(give_up_after=self.retry_for),
            body=notification.to_dict(audience=True), headers=headers)
        ids = answer.get("ids") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise PublishRejected(status, "the answer holds no ids; is jln_server enabled on "
                                          "this Jupyter server?")
        return ids

    def receipts(self, notification_id: str) -> Receipts:
        """Who of its audience has read a notification, as the server knows it."""
        path = f"{NOTIFICATIONS_PATH}/{quote(notification_id, safe='')}/receipts"
        try:
            status, answer = self.api.call_retrying("GET", path,
                                                    Backoff(give_up_after=self.retry_for))
        except PublishRejected as err:
            if err.status == 404:  # as over Redis: the streams do not hold it
                raise NotFound("id", f"{notification_id!r}: {err.reason}") from None
            raise
        try:
            return Receipts.from_dict(answer)
        except ValueError as err:
            raise PublishRejected(status, str(err)) from None
