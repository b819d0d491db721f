"""A browser's view of a JupyterHub, for tests: log in on the hub's form, open a user's
server (through the hub's OAuth redirects), call its API with the cookies and the XSRF header
JupyterLab sends, and open its WebSockets with the same cookies.

Its HTTP is blocking (``requests``, which keeps cookies per path as a browser does): async
tests call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import requests
from server.clients import FRAME_TIMEOUT, Client
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from .hub_process import HubProcess

TIMEOUT = 30.0


class Browser:
    """One person's browser on ``hub``, logged in as ``user`` by ``login()``."""

    def __init__(self, hub: HubProcess, user: str) -> None:
        self.hub = hub
        self.user = user
        self.session = requests.Session()

    def login(self) -> None:
        """Fill in the hub's login form, with the XSRF token its page set as a cookie."""
        page = self.session.get(self.hub.url + "hub/login", timeout=TIMEOUT)
        page.raise_for_status()
        form = {"username": self.user, "password": self.hub.password(self.user),
                "_xsrf": self.session.cookies.get("_xsrf", path="/hub/") or ""}
        answer = self.session.post(self.hub.url + "hub/login?next=" + quote("/hub/home"),
                                   data=form, allow_redirects=False, timeout=TIMEOUT)
        if answer.status_code != 302:
            raise AssertionError(f"{self.user} could not log in: {answer.status_code} "
                                 f"{answer.text[:300]}")

    def server_url(self, owner: str) -> str:
        return f"{self.hub.url}user/{owner}/"

    def open_server(self, owner: str) -> None:
        """Open ``owner``'s JupyterLab page as a tab would: the server sends the browser to
        the hub's OAuth authorize URL, which sends it back with a code (after a click on
        Authorize, for another user's server), and the server sets its own login cookie and
        XSRF cookie."""
        page = self.session.get(self.server_url(owner) + "lab", timeout=TIMEOUT)
        if page.status_code == 200 and "/hub/api/oauth2/authorize" in page.url:
            # Someone else's server (the admin in alice's): the hub asks them to authorize it.
            page = self.session.post(page.url, data=hidden_inputs(page.text), timeout=TIMEOUT)
        if page.status_code != 200 or not page.url.startswith(self.server_url(owner)):
            raise AssertionError(f"{self.user} could not open {owner}'s server: "
                                 f"{page.status_code} at {page.url}")

    def request(self, method: str, owner: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        """``method`` on ``owner``'s server (``jln/api/...``) with the cookies, and the XSRF
        header JupyterLab adds to a request that changes something."""
        xsrf = self.session.cookies.get("_xsrf", path=f"/user/{owner}/") or ""
        return self.session.request(
            method, self.server_url(owner) + path, json=body, timeout=TIMEOUT,
            headers={"X-XSRFToken": xsrf, **(headers or {})})

    def cookie_header(self, url: str) -> str:
        """The ``Cookie`` header this browser sends to ``url``."""
        prepared = self.session.prepare_request(requests.Request("GET", url))
        return str(prepared.headers.get("Cookie", ""))

    async def websocket(self, owner: str, path: str = "jln/api/ws") -> Client:
        """Open a WebSocket on ``owner``'s server with this browser's cookies."""
        url = self.server_url(owner) + path
        request = HTTPRequest("ws" + url[len("http"):],
                              headers={"Cookie": self.cookie_header(url)},
                              connect_timeout=FRAME_TIMEOUT, request_timeout=FRAME_TIMEOUT)
        return Client(await asyncio.wait_for(websocket_connect(request), FRAME_TIMEOUT))


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields.append((str(found["name"]), found.get("value") or ""))


def hidden_inputs(html: str) -> list[tuple[str, str]]:
    """The hidden fields of a page's form, as its submit button would send them."""
    parser = _HiddenInputs()
    parser.feed(html)
    return parser.fields
