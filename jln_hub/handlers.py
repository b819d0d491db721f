"""The service's pages and JSON API, under its hub prefix (``/services/<name>/``).

Every request is identified by the hub (``HubOAuthenticated``: the OAuth cookie of a browser,
or a token in ``Authorization``) and allowed to hub admins and to whoever holds
``custom:jln:announce`` (a role the hub grants). Cookie requests that change something carry
the hub's XSRF token (the page's forms hold it). Errors are JSON naming the field, never a 500.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jupyterhub.services.auth import (
    HubOAuth,
    HubOAuthCallbackHandler,
    HubOAuthenticated,
    UserNotAllowed,
)
from redis.exceptions import RedisError
from tornado import web

from jln_broker.backoff import REFUSED, RETRYABLE
from jln_broker.errors import (
    BrokerRefused,
    BrokerRefusedForNow,
    BrokerUnavailable,
    Conflict,
    NotFound,
    TooLarge,
    ValidationError,
)
from jln_broker.model import TYPES
from jln_broker.refusals import CREDENTIALS, refusal

from .hub import HubRefused, HubUnavailable
from .receipts import counts
from .service import Announcements, now_ms

ANNOUNCE_SCOPE = "custom:jln:announce"
"""Lets a user who is not a hub admin use the service (a role the hub config grants)."""
MAX_BODY = 65_536
DEFAULT_LIMIT, MAX_LIMIT = 100, 1_000
_JSON = re.compile(r"application/([a-z0-9.+-]+\+)?json")
_NAME_SPLIT = re.compile(r"[\s,]+")
_STATUS: dict[type[Exception], int] = {TooLarge: 413, ValidationError: 400, NotFound: 404,
                                       Conflict: 409, HubRefused: 502, HubUnavailable: 503,
                                       BrokerRefusedForNow: 503, BrokerRefused: 502,
                                       BrokerUnavailable: 503}
"""The first class an error is an instance of wins: subclasses first."""


class Failure(web.HTTPError):
    """An expected refusal, with the field it is about."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(status)
        self.message = message
        self.field = field


@contextlib.contextmanager
def http_errors() -> Iterator[None]:
    """Our exceptions, and Redis's, as HTTP codes with the field they name."""
    try:
        yield
    except (*CREDENTIALS, *REFUSED) as err:
        meant = refusal(err)
        raise Failure(_status(meant), str(meant)) from meant
    except tuple(_STATUS) as err:
        raise Failure(_status(err), str(err), getattr(err, "field", None)) from err
    except RETRYABLE as err:
        raise Failure(503, f"Redis is unreachable: {err}") from err
    except RedisError as err:
        raise Failure(502, f"Redis answered with an error: {err}") from err


def _status(err: Exception) -> int:
    return next((code for kind, code in _STATUS.items() if isinstance(err, kind)), 502)


class BaseHandler(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    """Identifies the caller with the hub (asynchronously, before the verb runs) and keeps
    whether they were refused."""

    def initialize(self, announcements: Announcements, hub_auth: HubOAuth) -> None:
        self.announcements = announcements
        self.hub_auth = hub_auth
        self.refused: dict[str, Any] | None = None

    async def prepare(self) -> None:
        # HubAuthenticated.get_current_user would ask the hub with a blocking call; asking
        # here and leaving the answer where it looks first keeps the loop free.
        model = await self.hub_auth.get_user(self, sync=False)
        self._hub_auth_user_cache: dict[str, Any] | None = None
        if model:
            try:
                self._hub_auth_user_cache = self.check_hub_user(model)
            except UserNotAllowed:
                self.refused = model

    def check_hub_user(self, model: dict[str, Any]) -> dict[str, Any]:
        """The hub's access check for this service, then: a hub admin, or the custom scope."""
        model = super().check_hub_user(model)
        if model.get("admin") or self.hub_auth.check_scopes({ANNOUNCE_SCOPE}, model):
            return model
        raise UserNotAllowed(model)

    @property
    def sender(self) -> str:
        return str(self.current_user["name"])

    def allowed(self) -> bool:
        return self.current_user is not None


class ApiHandler(BaseHandler):
    """JSON in, JSON out; anyone not allowed gets a 403 (never a login redirect)."""

    async def prepare(self) -> None:
        await super().prepare()
        if not self.allowed():
            who = self.refused and f"{self.refused.get('kind', 'user')} " \
                                   f"{self.refused.get('name')!r}"
            raise Failure(403, f"{who} is neither a hub admin nor granted {ANNOUNCE_SCOPE}"
                          if who else "not authenticated: log in on the hub (and send its "
                                      "XSRF token in X-XSRFToken), or send a hub token in "
                                      "Authorization")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        err = kwargs.get("exc_info", (None, None))[1]
        body = {"error": self._reason, "field": None}
        if isinstance(err, Failure):
            body = {"error": err.message, "field": err.field}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def json_body(self) -> dict[str, Any]:
        media = self.request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if not _JSON.fullmatch(media):
            raise Failure(415, f"Content-Type: must be application/json, not {media[:80]!r}",
                          "Content-Type")
        if len(self.request.body) > MAX_BODY:
            raise Failure(413, f"body: is {len(self.request.body)} bytes; the limit is "
                               f"{MAX_BODY}", "body")
        try:
            body = json.loads(self.request.body)
        except (ValueError, RecursionError) as err:
            raise Failure(400, f"body: is not JSON ({err})", "body") from None
        if not isinstance(body, dict):
            raise Failure(400, "body: must be a JSON object", "body")
        return body

    def limit(self) -> int:
        text = self.get_query_argument("limit", str(DEFAULT_LIMIT))
        if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise Failure(400, f"limit: must be a whole number from 1 to {MAX_LIMIT}, not "
                               f"{text[:20]!r}", "limit")
        return int(text)


class NoticesHandler(ApiHandler):
    async def get(self) -> None:
        """The newest notices first (``?limit=``, at most 1,000)."""
        with http_errors():
            found = await self.announcements.book.newest(self.limit())
        now = now_ms()
        self.finish({"notices": [n.to_dict(now) for n in found]})

    async def post(self) -> None:
        """Send a notice: ``message``, ``title``, ``type``, ``pinned``, ``requireAck``,
        ``expiresAt``, and ``everyone: true`` or ``groups`` and/or ``users``."""
        body = self.json_body()
        with http_errors():
            notice = await self.announcements.send(body, self.sender)
        self.set_status(201)
        self.finish(notice.to_dict(now_ms()))


class NoticeHandler(ApiHandler):
    async def get(self, notice_id: str) -> None:
        """One notice."""
        with http_errors():
            notice = await self.announcements.book.get(notice_id)
        self.finish(notice.to_dict(now_ms()))

    async def delete(self, notice_id: str) -> None:
        """Withdraw it: running servers drop its banner, later ones never show it."""
        with http_errors():
            notice = await self.announcements.withdraw(notice_id, self.sender)
        self.finish(notice.to_dict(now_ms()))


class ReceiptsHandler(ApiHandler):
    async def get(self, notice_id: str) -> None:
        """Each target user's status: acknowledged, read, unread or not-started."""
        with http_errors():
            notice, found = await self.announcements.receipts(notice_id)
        self.finish({"id": notice.id, "counts": counts(found),
                     "receipts": [r.to_dict() for r in found]})


class NoRoute(ApiHandler):
    """Any other path under ``api/``: a JSON 404 rather than tornado's page."""

    async def prepare(self) -> None:
        await super().prepare()
        raise Failure(404, f"path: no such endpoint {self.request.path[:200]!r}", "path")


class PageHandler(BaseHandler):
    """Server-rendered pages; a browser not logged in is sent through the hub's login (a form
    posted without a login, or without the XSRF token, is refused)."""

    async def prepare(self) -> None:
        await super().prepare()
        if self.refused is not None:
            raise web.HTTPError(403)
        if self.current_user is None:
            if self.request.method != "GET":
                raise Failure(403, "not logged in, or the form's XSRF token is missing or "
                                   "stale: open the page again")
            self.redirect(self.get_login_url())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        err = kwargs.get("exc_info", (None, None))[1]
        message = err.message if isinstance(err, Failure) else (
            f"{self.refused['name']} is neither a hub admin nor granted {ANNOUNCE_SCOPE}"
            if status_code == 403 and self.refused else self._reason)
        self.finish(self.render_string("error.html", status=status_code, message=message))

    def base(self) -> str:
        return str(self.hub_auth.base_url)

    async def page(self, error: str | None = None, form: Mapping[str, str] | None = None
                   ) -> None:
        with http_errors():
            found = await self.announcements.book.newest(DEFAULT_LIMIT)
        self.render("page.html", notices=found, now=now_ms(), types=TYPES, error=error,
                    form=form or {}, base=self.base(), user=self.sender)


class HomePage(PageHandler):
    async def get(self) -> None:
        """The form to send a notice, and the notices sent."""
        await self.page()


class SendForm(PageHandler):
    async def post(self) -> None:
        """The page's form: send, then show the notice's receipts."""
        form = {name: self.get_body_argument(name, "") for name in (
            "message", "title", "type", "audience", "names", "expiresInMinutes")}
        try:
            body = form_to_body(form, {name: self.get_body_argument(name, "") == "on"
                                       for name in ("pinned", "requireAck")})
            with http_errors():
                notice = await self.announcements.send(body, self.sender)
        except Failure as err:
            if err.status_code >= 500:
                raise
            self.set_status(err.status_code)
            await self.page(err.message, form)
            return
        self.redirect(f"{self.base()}notices/{notice.id}", status=303)


class NoticePage(PageHandler):
    async def get(self, notice_id: str) -> None:
        """A notice, its receipts, and the button that withdraws it."""
        with http_errors():
            notice = await self.announcements.book.get(notice_id)
            found = (await self.announcements.receipts(notice_id))[1] if notice.ids else []
        self.render("notice.html", notice=notice, receipts=found, counts=counts(found),
                    now=now_ms(), base=self.base(), user=self.sender)


class WithdrawForm(PageHandler):
    async def post(self, notice_id: str) -> None:
        with http_errors():
            await self.announcements.withdraw(notice_id, self.sender)
        self.redirect(f"{self.base()}notices/{notice_id}", status=303)


def form_to_body(form: Mapping[str, str], flags: Mapping[str, bool]) -> dict[str, Any]:
    """The page's form as the API's body: names split on spaces and commas, an expiry in
    minutes from now."""
    body: dict[str, Any] = {"message": form["message"], "type": form["type"] or "info", **flags}
    if form["title"].strip():
        body["title"] = form["title"].strip()
    names = [n for n in _NAME_SPLIT.split(form["names"]) if n]
    if form["audience"] == "everyone":
        body["everyone"] = True
    elif form["audience"] in ("groups", "users"):
        body[form["audience"]] = names
    else:
        raise Failure(400, "audience: must be everyone, groups or users", "audience")
    minutes = form["expiresInMinutes"].strip()
    if minutes:
        if not minutes.isdigit() or not 1 <= int(minutes) <= 525_600:
            raise Failure(400, "expiresInMinutes: must be a whole number of minutes from 1 to "
                               f"525600 (a year), not {minutes[:20]!r}", "expiresInMinutes")
        body["expiresAt"] = int(time.time() * 1000) + int(minutes) * 60_000
    return body


class OAuthCallback(HubOAuthCallbackHandler):  # type: ignore[misc]
    """The end of the hub's OAuth dance: sets the service's login cookie."""

    def initialize(self, hub_auth: HubOAuth) -> None:
        self.hub_auth = hub_auth


def routes(prefix: str, announcements: Announcements, hub_auth: HubOAuth
           ) -> list[tuple[str, type, dict[str, Any]]]:
    """The route table under the service's prefix (ending in ``/``)."""
    deps = {"announcements": announcements, "hub_auth": hub_auth}
    one = r"(?P<notice_id>[^/]+)"
    return [
        (prefix, HomePage, deps),
        (f"{prefix}notices", SendForm, deps),
        (f"{prefix}notices/{one}", NoticePage, deps),
        (f"{prefix}notices/{one}/withdraw", WithdrawForm, deps),
        (f"{prefix}api/notices", NoticesHandler, deps),
        (f"{prefix}api/notices/{one}", NoticeHandler, deps),
        (f"{prefix}api/notices/{one}/receipts", ReceiptsHandler, deps),
        (f"{prefix}api/.*", NoRoute, deps),
        (f"{prefix}oauth_callback", OAuthCallback, {"hub_auth": hub_auth}),
    ]


TEMPLATES = Path(__file__).parent / "templates"
