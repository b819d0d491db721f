"""Every JLN route refuses whoever is not the server's user, as the rest of Jupyter does.

The routes come from the running server's tornado application (every rule whose handler class
is JLN's), not from a list kept here: a route added later without authentication fails these
tests. For each route and each method its handler implements, a request with no credentials, a
wrong token (header or query), the publisher secret alone, or a wrong owner token is refused
(401 or 403: never a 2xx, a 404 that would tell what exists, or a 500), and a browser's login
cookie without the XSRF token is refused for every method that changes something. Each refusal
is matched by an acceptance of the right credential, so a route that refuses everyone, or a
cookie that never worked, cannot pass for a secure one.

Credentials other than Jupyter's are declared by the handler classes: ``owner_token_methods``
(the ``$JLN_SERVER_TOKEN`` of kernels and terminals) and ``signature_header`` (a webhook signed
with an HMAC of its body). A method open without a Jupyter login must declare one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import pytest_asyncio
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.routing import PathMatches, Router
from tornado.websocket import websocket_connect

from jln_server.handlers import routes as route_table

from .clients import FRAME_TIMEOUT, InProcess, connect, ws_url

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

SECRET = "publisher-secret-for-the-walk"
GITHUB_SECRET = "github-secret-for-the-walk"
OWNER = "ada"
SAMPLE = f"jln:user:{OWNER}/1-0"
"""What every path parameter becomes (the only one is a notification id, of the owner's)."""
REFUSED = (401, 403)
CHANGING = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Route:
    """One JLN rule of the application, with its path parameters filled in."""

    pattern: str
    handler: type[web.RequestHandler]
    path: str

    def methods(self) -> list[str]:
        """The HTTP methods JLN's code implements (not jupyter_server's CORS ``OPTIONS``)."""
        return [m for m in self.handler.SUPPORTED_METHODS
                if _defined_by(self.handler, m.lower()).__module__.startswith("jln_server")]

    def owner_token_methods(self) -> frozenset[str]:
        return frozenset(getattr(self.handler, "owner_token_methods", frozenset()))

    def signature_header(self) -> str | None:
        header = getattr(self.handler, "signature_header", None)
        return header if isinstance(header, str) else None

    def open_without_login(self, method: str) -> bool:
        """Decorated with jupyter_server's ``allow_unauthenticated``."""
        function = getattr(self.handler, method.lower())
        return bool(getattr(function, "__allow_unauthenticated", False))


def _defined_by(handler: type, name: str) -> type:
    """The class of ``handler``'s ancestry whose own code ``handler.<name>`` is."""
    return next(cls for cls in handler.__mro__ if name in vars(cls))


def jln_routes(router: Router) -> Iterator[Route]:
    """Every rule under ``router`` (nested routers included) whose handler is JLN's."""
    for rule in getattr(router, "rules", []):
        target = rule.target
        if isinstance(target, Router):
            yield from jln_routes(target)
        elif (isinstance(target, type) and issubclass(target, web.RequestHandler)
              and target.__module__.startswith("jln_server")):
            matcher = rule.matcher
            assert isinstance(matcher, PathMatches), matcher
            yield Route(matcher.regex.pattern, target, sample_path(matcher))


def sample_path(matcher: PathMatches) -> str:
    """The rule's path with each group replaced by ``SAMPLE`` (``PathMatches.reverse`` cannot:
    the test server's base URL holds a ``%``)."""
    pattern = matcher.regex.pattern.removesuffix("$")
    path, depth = "", 0
    for char in pattern:  # each outermost group (groups may nest) becomes the sample
        if char == "(":
            depth += 1
            path += quote(SAMPLE, safe="") if depth == 1 else ""
        elif char == ")":
            depth -= 1
        elif depth == 0:
            path += char
    path = re.sub(r"\\(.)", r"\1", path)
    assert matcher.regex.fullmatch(path), (path, matcher.regex.pattern)
    return path


def app_routes(app: web.Application) -> list[Route]:
    found = {r.pattern: r for router in (app.wildcard_router, app.default_router)
             for r in jln_routes(router)}
    return sorted(found.values(), key=lambda r: r.pattern)


@dataclass(frozen=True)
class Credentials:
    """What the walk holds: the server's token, the owner token, a login cookie and its XSRF."""

    origin: str
    token: str
    owner_token: str
    cookie: str
    xsrf: str


async def fetch(url: str, method: str, headers: Mapping[str, str] | None = None,
                body: bytes | None = None) -> HTTPResponse:
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b"{}"
    return await AsyncHTTPClient().fetch(HTTPRequest(
        url, method=method, headers=dict(headers or {}), body=body, follow_redirects=False,
        allow_nonstandard_methods=True, request_timeout=FRAME_TIMEOUT), raise_error=False)


async def login_cookie(base: str, token: str) -> tuple[str, str]:
    """Log in as a browser does, with the token in the login form: (Cookie header, XSRF)."""
    first = await fetch(base + "login", "GET")
    jar = SimpleCookie()
    for line in first.headers.get_list("Set-Cookie"):
        jar.load(line)
    xsrf = jar["_xsrf"].value
    form = urlencode({"password": token, "_xsrf": xsrf}).encode()
    answer = await fetch(base + "login", "POST", {"Cookie": f"_xsrf={xsrf}"}, form)
    assert answer.code == 302, (answer.code, answer.body)
    for line in answer.headers.get_list("Set-Cookie"):
        jar.load(line)
    assert any(name.startswith("username-") for name in jar), list(jar)
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items()), xsrf


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Walk:
    """Requests sent and what was wrong with their answers."""

    creds: Credentials
    sent: int = 0
    problems: list[str] | None = None

    async def expect(self, route: Route, method: str, what: str, refused: bool,
                     headers: Mapping[str, str] | None = None, query: str = "",
                     body: bytes | None = None) -> None:
        url = self.creds.origin + route.path + query
        answer = await fetch(url, method, headers, body)
        self.sent += 1
        ok = answer.code in REFUSED if refused else (answer.code not in REFUSED
                                                     and answer.code < 500)
        if answer.code >= 500 or not ok:
            assert self.problems is not None
            self.problems.append(f"{method} {route.path} with {what}: {answer.code} (expected "
                                 f"{'401/403' if refused else 'an answer past authentication'})"
                                 f" {answer.body[:200]!r}")

    async def route(self, route: Route, method: str) -> None:
        creds = self.creds
        for what, headers, query in (
                ("no credentials", {}, ""),
                ("a wrong token", {"Authorization": "token wrong"}, ""),
                ("a wrong bearer token", {"Authorization": "bearer wrong"}, ""),
                ("a wrong token in the query", {}, "?token=wrong"),
                ("the publisher secret alone", {"X-JLN-Secret": SECRET}, ""),
                ("a wrong publisher secret alone", {"X-JLN-Secret": "wrong"}, ""),
                ("a wrong owner token", {"Authorization": "token jln-owner-wrong"}, "")):
            await self.expect(route, method, what, True, headers, query)
        signature = route.signature_header()
        if signature:
            await self.signed_route(route, method, signature)
            return
        if route.open_without_login(method):
            assert self.problems is not None
            self.problems.append(f"{method} {route.path}: open without a Jupyter login and "
                                 "declares no other credential (signature_header)")
        owner = {"Authorization": f"token {creds.owner_token}"}
        await self.expect(route, method, "the owner token", method not in
                          route.owner_token_methods(), owner)
        await self.expect(route, method, "the server's token", False,
                          {"Authorization": f"token {creds.token}"})
        cookie = {"Cookie": creds.cookie}
        if method in CHANGING:
            await self.expect(route, method, "a login cookie without XSRF", True, cookie)
            await self.expect(route, method, "a login cookie with a wrong XSRF", True,
                              {**cookie, "X-XSRFToken": "wrong"})
        await self.expect(route, method, "a login cookie with its XSRF", False,
                          {**cookie, "X-XSRFToken": creds.xsrf})

    async def signed_route(self, route: Route, method: str, header: str) -> None:
        """A webhook: Jupyter's own credentials do not open it, its signature does."""
        body = b'{"zen": "Keep it logically awesome."}'
        await self.expect(route, method, "the server's token but no signature", True,
                          {"Authorization": f"token {self.creds.token}"}, body=body)
        await self.expect(route, method, "a login cookie with its XSRF but no signature", True,
                          {"Cookie": self.creds.cookie, "X-XSRFToken": self.creds.xsrf},
                          body=body)
        await self.expect(route, method, "a wrong signature", True,
                          {header: signed("wrong", body)}, body=body)
        await self.expect(route, method, "a signature of another body", True,
                          {header: signed(GITHUB_SECRET, body + b" ")}, body=body)
        await self.expect(route, method, "the right signature", False,
                          {header: signed(GITHUB_SECRET, body), "X-GitHub-Event": "ping"},
                          body=body)


async def walk(routes: list[Route], creds: Credentials) -> Walk:
    done = Walk(creds, problems=[])
    for route in routes:
        for method in route.methods():
            await done.route(route, method)
    return done


@pytest_asyncio.fixture
async def credentials(server: InProcess, jln_started: Any) -> Credentials:
    cookie, xsrf = await login_cookie(server.url, server.token)
    origin = re.match(r"https?://[^/]+", server.url)
    assert origin is not None
    return Credentials(origin.group(0), server.token, jln_started.service.policy.owner_token,
                       cookie, xsrf)


AUTH = pytest.mark.jln(user=OWNER, publisher_secret=SECRET, github_webhook_secret=GITHUB_SECRET)


@AUTH
async def test_every_route_and_method_refuses_whoever_is_not_the_user(
        jp_serverapp: Any, credentials: Credentials, jln_started: Any) -> None:
    routes = app_routes(jp_serverapp.web_app)
    expected = route_table(jln_started.service)

    done = await walk(routes, credentials)

    assert len(routes) == len(expected), [r.pattern for r in routes]
    assert {r.handler for r in routes} == {handler for _, handler, _ in expected}
    assert done.problems == [], "\n".join(done.problems or [])
    methods = sum(len(r.methods()) for r in routes)
    print(f"route walk: {len(routes)} routes, {methods} methods, {done.sent} requests")
    assert done.sent >= methods * 9


@AUTH
async def test_a_route_added_without_authentication_fails_the_walk(
        jp_serverapp: Any, credentials: Credentials, jln_started: Any) -> None:
    class Forgotten(web.RequestHandler):
        async def get(self) -> None:
            self.finish({"secret": "anyone can read this"})

    Forgotten.__module__ = "jln_server.handlers.forgotten"
    base = jp_serverapp.web_app.settings["base_url"]
    jp_serverapp.web_app.add_handlers(".*$", [(url_path_join(base, "jln/api/forgotten"),
                                               Forgotten)])
    [route] = [r for r in app_routes(jp_serverapp.web_app) if r.handler is Forgotten]

    done = await walk([route], credentials)

    assert any(p.startswith("GET") and "no credentials: 200" in p for p in done.problems or [])
    assert any(p.startswith("GET") and "a wrong token: 200" in p for p in done.problems or [])


@AUTH
async def test_the_socket_refuses_an_upgrade_without_the_users_credentials(
        server: InProcess, credentials: Credentials) -> None:
    url = ws_url(server.url)
    refusals = []
    for what, headers, query in (("no credentials", {}, ""),
                                 ("a wrong token", {"Authorization": "token wrong"}, ""),
                                 ("a wrong token in the query", {}, "?token=wrong"),
                                 ("the owner token", {"Authorization":
                                                      f"token {credentials.owner_token}"}, ""),
                                 ("the publisher secret", {"X-JLN-Secret": SECRET}, "")):
        with pytest.raises(HTTPClientError) as refused:
            await asyncio.wait_for(websocket_connect(HTTPRequest(
                url + query, headers=headers, request_timeout=FRAME_TIMEOUT)), FRAME_TIMEOUT)
        refusals.append((what, refused.value.code))

    assert all(code in REFUSED for _, code in refusals), refusals
    client = await connect(url, server.token)
    try:
        assert (await client.hello())["type"] == "hello"
    finally:
        client.close()
