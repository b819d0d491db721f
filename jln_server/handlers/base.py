"""What every JLN REST handler shares: authentication, JSON bodies, and the one place where our
exceptions become HTTP status codes and ``wire.error`` bodies (never a 500)."""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import weakref
from collections.abc import Iterator
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider, User
from jupyter_server.base.handlers import APIHandler
from tornado import web

from jln_broker.backoff import REFUSED, RETRYABLE
from jln_broker.errors import (
    BrokerForbidden,
    BrokerRefused,
    BrokerRefusedForNow,
    BrokerUnavailable,
    Conflict,
    NotFound,
    TooLarge,
    ValidationError,
)
from jln_broker.http import IDEMPOTENCY_HEADER
from jln_broker.refusals import CREDENTIALS, refusal

from .. import wire
from ..identity import Forbidden, OwnerTokenHolder, PublishPolicy, hub_user
from ..ratelimit import RateLimited
from ..service import NotifyService

AUTH_RESOURCE = "jln"
SECRET_HEADER = "X-JLN-Secret"
READY_TIMEOUT = 3.0
"""Seconds a request waits for the owner's history to load (at start) before answering 503."""

_ALWAYS = frozenset({"token", "_xsrf"})  # what jupyter_server itself may put in a query
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
_JSON_MEDIA = re.compile(r"application/([a-z0-9.+-]+\+)?json")
_ARRAY = re.compile(rb"[ \t\r\n]*\[")
_CACHE_BUSTER = re.compile(r"[0-9]+")
"""JupyterLab's ServerConnection appends ``?<timestamp>`` to every GET."""
_STATUS: dict[type[Exception], int] = {TooLarge: 413, ValidationError: 400, NotFound: 404,
                                       Conflict: 409, Forbidden: 403, RateLimited: 429,
                                       BrokerRefusedForNow: 503, BrokerForbidden: 502,
                                       BrokerRefused: 502, BrokerUnavailable: 503}
"""The first class an error is an instance of wins: subclasses (TooLarge) before bases."""


class Failure(web.HTTPError):
    """An expected error, carried to ``write_error`` with its field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(status, reason=None)
        self.message = message
        self.field = field


@contextlib.contextmanager
def http_errors() -> Iterator[None]:
    """The one place where our exceptions become HTTP status codes (never a 500). Redis's
    own error answers (and refused credentials) become the ``BrokerRefused`` they mean first:
    full or read-only is a 503 with ``Retry-After``, the ACL a 502."""
    try:
        yield
    except (*CREDENTIALS, *REFUSED) as err:
        meant = refusal(err)
        raise Failure(_status_of(meant), str(meant)) from meant
    except RETRYABLE as err:
        raise Failure(503, f"the notification broker is unreachable: {err}") from err
    except tuple(_STATUS) as err:
        raise Failure(_status_of(err), str(err), getattr(err, "field", None)) from err


def _status_of(err: Exception) -> int:
    return next(code for kind, code in _STATUS.items() if isinstance(err, kind))


class ApiIdentity:
    """The server's identity provider, which also knows the owner token (for the methods a
    handler accepts it on), and spares a script's token calls the login cookie; everything else
    is the server's own."""

    def __init__(self, server: Any, policy: PublishPolicy, methods: frozenset[str]) -> None:
        self._server = server
        self._policy = policy
        self._methods = methods

    def holder(self, handler: web.RequestHandler) -> OwnerTokenHolder | None:
        if handler.request.method not in self._methods:
            return None
        return self._policy.token_holder(handler.request.headers.get("Authorization"))

    def get_user(self, handler: web.RequestHandler) -> Any:
        return self.holder(handler) or self._token_caller(handler) or self._server.get_user(
            handler)

    def _token_caller(self, handler: web.RequestHandler) -> User | None:
        """The server's token in an ``Authorization`` header of a request without cookies (a
        script, ``curl``, a kernel): authenticated by jupyter_server's own token check, as one
        anonymous user made once. jupyter_server would make up a new one per request and sign
        a login cookie naming it, which such a caller never sends back (about a fifth of an
        ingest request's time). Only for jupyter_server's own token providers; anything else
        (a wrong token, cookies, a hub's provider) takes the server's way."""
        headers = handler.request.headers
        if (type(self._server) not in _TOKEN_PROVIDERS or "get_user" in vars(self._server)
                or "Cookie" in headers or "Authorization" not in headers):
            return None  # not the token check this repeats (another provider, or patched)
        token, given = self._server.token, self._server.get_token(handler)
        if not (token and given and hmac.compare_digest(token.encode(), given.encode())):
            return None
        handler._token_authenticated = True  # type: ignore[attr-defined]  # as the server marks it
        caller = _TOKEN_CALLERS.get(self._server)
        if caller is None:
            caller = _TOKEN_CALLERS[self._server] = self._server.generate_anonymous_user(handler)
        return caller

    def is_token_authenticated(self, handler: web.RequestHandler) -> bool:
        """A header token, not a cookie: no XSRF check needed."""
        return self.holder(handler) is not None or bool(
            self._server.is_token_authenticated(handler))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


_TOKEN_PROVIDERS = (IdentityProvider, PasswordIdentityProvider)
"""Providers whose token check is ``IdentityProvider.get_user_token``'s, which
``ApiIdentity`` repeats: comparing the request's token (``get_token``) with the server's."""
_TOKEN_CALLERS: weakref.WeakKeyDictionary[Any, User] = weakref.WeakKeyDictionary()


class _OwnerTokenAuthorizer:
    """The server's authorizer; the owner token's holder is authorized by the policy alone."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> Any:
        if isinstance(user, OwnerTokenHolder):
            return resource == AUTH_RESOURCE
        return self._server.is_authorized(handler, user, action, resource)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class BaseHandler(APIHandler):
    """JSON in, JSON out, errors as ``{"error", "field"}``."""

    auth_resource = AUTH_RESOURCE

    owner_token_methods: frozenset[str] = frozenset()
    """HTTP methods that accept the owner token (``$JLN_SERVER_TOKEN``) as a credential."""
    _identity: ApiIdentity | None = None

    def initialize(self, service: NotifyService) -> None:
        self.service = service

    @property
    def identity_provider(self) -> Any:
        if self._identity is None:
            self._identity = ApiIdentity(super().identity_provider, self.service.policy,
                                          self.owner_token_methods)
        return self._identity

    @property
    def authorizer(self) -> Any:
        server = super().authorizer
        return _OwnerTokenAuthorizer(server) if self.owner_token_methods else server

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        err = kwargs.get("exc_info", (None, None))[1]
        body = wire.error(self._reason, None)
        if isinstance(err, Failure):
            body = wire.error(err.message, err.field)
        self.error_headers(status_code, err)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def error_headers(self, status_code: int, err: BaseException | None) -> None:
        """``Retry-After`` on a 429 and on a broker's passing refusal; ``Allow`` on a 405, as
        RFC 9110 requires."""
        cause = err.__cause__ if isinstance(err, Failure) else None
        if isinstance(cause, (RateLimited, BrokerRefusedForNow)):
            self.set_header("Retry-After", str(max(1, round(cause.retry_after))))
        if status_code == 405:
            own = [m for m in self.SUPPORTED_METHODS if getattr(type(self), m.lower())
                   is not getattr(web.RequestHandler, m.lower())]
            self.set_header("Allow", ", ".join(own))

    def json_body(self) -> dict[str, Any]:
        """The request's JSON object, declared ``application/json``. A browser form can send
        a body cross-site with the user's cookie and no preflight (``text/plain`` and the form
        types), so those are refused; only a request with a token, which no form holds, may
        leave the type out or send ``curl -d``'s form type."""
        body = self._json(self.service.limits.max_message_chars * 4 + 65_536)
        if not isinstance(body, dict):
            raise Failure(400, "body: must be a JSON object", "body")
        return body

    def json_objects(self, max_items: int, max_bytes: int) -> dict[str, Any] | list[Any]:
        """A JSON object as ``json_body`` takes it, or an array of 1 to ``max_items`` objects
        in up to ``max_bytes``."""
        if not _ARRAY.match(self.request.body):
            return self.json_body()
        items: list[Any] = self._json(max_bytes)  # it starts with '['
        if not items:
            raise Failure(400, "body: an array must hold at least one notification", "body")
        if len(items) > max_items:
            raise Failure(413, f"body: holds {len(items)} notifications; the limit for an "
                               f"array is {max_items}", "body")
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise Failure(400, f"[{n}]: must be a JSON object", f"[{n}]")
        return items

    def _json(self, limit: int) -> Any:
        media = self.request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        curl = media in ("", "application/x-www-form-urlencoded") and self.token_authenticated
        if not (_JSON_MEDIA.fullmatch(media) or curl):
            raise Failure(415, f"Content-Type: must be application/json, not {media[:80]!r}",
                          "Content-Type")
        if len(self.request.body) > limit:
            raise Failure(413, f"body: is {len(self.request.body)} bytes; the limit is {limit}",
                          "body")
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, RecursionError) as err:  # also over 4300 digits, or nested too deep
            raise Failure(400, f"body: is not valid JSON ({err})", "body") from None

    @property
    def secret(self) -> str | None:
        return self.request.headers.get(SECRET_HEADER)

    async def publish(self, raw: dict[str, Any]) -> list[str]:
        return (await self.publish_items([raw], numbered=False))[0]

    async def publish_items(self, raws: list[dict[str, Any]], numbered: bool = True
                            ) -> list[list[str]]:
        """Publish all or nothing under the request's ``Idempotency-Key``; each one's ids."""
        with http_errors():
            return await self.service.publish_all(
                raws, requester=self.service.policy.requester(self.current_user, self.secret),
                current_user=self.current_user, secret=self.secret,
                idempotency_key=self.request.headers.get(IDEMPOTENCY_HEADER), numbered=numbered)

    def int_argument(self, name: str, default: int, maximum: int) -> int:
        value = self.get_argument(name, str(default))
        # ASCII digits only: int() refuses "²" (isdigit() does not) and over 4300 digits.
        if not _WHOLE_NUMBER.fullmatch(value) or not 1 <= int(value) <= maximum:
            raise Failure(400, f"{name}: must be a whole number from 1 to {maximum}", name)
        return int(value)

    def allow_arguments(self, names: frozenset[str] | set[str]) -> None:
        """Refuse a query argument the endpoint does not know: a misspelt filter must not
        quietly list everything."""
        unknown = sorted(name for name in set(self.request.arguments) - names - _ALWAYS
                         if not _CACHE_BUSTER.fullmatch(name))
        if unknown:
            raise Failure(400, f"{unknown[0]}: unknown argument (known: "
                               f"{', '.join(sorted(names))})", unknown[0])

    async def learn_groups(self) -> None:
        await self.service.learn_groups(hub_user(self.current_user))

    @property
    def _track_activity(self) -> bool:  # type: ignore[override]
        """Polling must not keep an idle server from being culled; publishing may."""
        return self.request.method != "GET"
