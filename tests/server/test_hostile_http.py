"""Hostile requests at the HTTP edge of a real ``jupyter server`` on a real Redis: each gets a
clear 4xx naming what is wrong, and nothing reaches a stream (every stream's length is the same
after each request). A browser form, which can post cross-site with the user's cookie and no
preflight, can publish nothing, even on a server whose XSRF check is turned off."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests

PUBLISH = "jln/api/notifications"
COMPAT = "jupyterlab-notifications-extension/ingest"
ALERTMANAGER = "jln/api/hooks/alertmanager"
BODY_LIMIT = 4 * 10_000 + 65_536
"""The default largest body (``4 * max_message_chars + 65536`` bytes)."""
DEEP = 10_000


@dataclass(frozen=True)
class Hostile:
    """One request and the refusal it must get: its status and the field the error names
    (``None``: the compatibility endpoint, whose errors carry no field)."""

    name: str
    body: bytes
    status: int
    field: str | None
    path: str = PUBLISH
    headers: dict[str, str] = dataclasses.field(
        default_factory=lambda: {"Content-Type": "application/json"})


def note(**fields: Any) -> bytes:
    return json.dumps({"message": "m", **fields}).encode()


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def link_action(url: str) -> dict[str, str]:
    return {"label": "Open", "link": url}


FORMS = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
"""What an HTML form can send cross-site with no preflight."""


def form_body(kind: str) -> bytes:
    """A body a form of that type can send, holding a valid notification: the attacker's best
    case (a ``text/plain`` form spells JSON with its field's name and value)."""
    if kind.startswith("multipart/"):
        return (b'--x\r\nContent-Disposition: form-data; name="j"\r\n\r\n'
                + note(message="csrf") + b"\r\n--x--\r\n")
    return note(message="csrf")


SCRIPT_URLS = ["javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
               "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
               "vbscript:msgbox(1)", "https:javascript:alert(1)", "//evil.example/x"]
RUN = {"label": "Run", "commandId": "ci:rerun"}

HOSTILE: list[Hostile] = [
    Hostile("oversized body", note(message="x" * BODY_LIMIT), 413, "body"),
    Hostile("message over its limit", note(message="x" * 10_001), 413, "message"),
    Hostile("10,000-deep JSON body", b"[" * DEEP + b"]" * DEEP, 400, "body"),
    Hostile("10,000-deep data", f'{{"message": "m", "data": {nested(DEEP)}}}'.encode(), 400,
            "body"),
    Hostile("invalid UTF-8", b'{"message": "caf\xe9"}', 400, "body"),
    Hostile("overlong UTF-8", b'{"message": "\xc0\xaf"}', 400, "body"),
    Hostile("lone surrogate in message", b'{"message": "\\ud800"}', 400, "message"),
    Hostile("lone surrogate in a user", b'{"message": "m", "users": ["\\udc80"]}', 400,
            "users[0]"),
    Hostile("lone surrogate in data", b'{"message": "m", "data": {"\\udfff": 1}}', 400, "data"),
    Hostile("NaN in data", b'{"message": "m", "data": {"x": NaN}}', 400, "data"),
    Hostile("infinite expiresAt", b'{"message": "m", "expiresAt": 1e999}', 400, "expiresAt"),
    Hostile("integer past 64 bits", note(data={"n": 2**64}), 400, "notification"),
    Hostile("an array holding a number", b'[{"message": "m"}, 1]', 400, "[1]"),
    Hostile("an array, one item blank", b'[{"message": "m"}, {"message": " "}]', 400,
            "[1].message"),
    Hostile("an empty array", b"[]", 400, "body"),
    Hostile("compat: a JSON array", b'[{"message": "m"}]', 400, None, COMPAT),
    Hostile("an empty body", b"", 400, "body"),
    Hostile("100 actions", note(actions=[{"label": f"a{i}"} for i in range(100)]), 413,
            "actions"),
    Hostile("huge args", note(actions=[{**RUN, "args": {"x": "y" * 9_000}}]), 413,
            "actions[0].args"),
    Hostile("args past the body limit", note(actions=[{**RUN, "args": {"x": "y" * BODY_LIMIT}}]),
            413, "body"),
    Hostile("args without a command", note(actions=[{"label": "a", "args": {}}]), 400,
            "actions[0].args"),
    *(Hostile(f"link {url!r}", note(link=url), 400, "link") for url in SCRIPT_URLS),
    *(Hostile(f"action link {url!r}", note(actions=[link_action(url)]), 400, "actions[0].link")
      for url in SCRIPT_URLS),
    *(Hostile(f"Content-Type {kind}", note(), 415, "Content-Type", headers={"Content-Type": kind})
      for kind in ("text/plain", "application/xml", "text/json", "application/jsonx")),
    Hostile("Content-Type multipart/form-data", form_body(FORMS[2]), 415, "Content-Type",
            headers={"Content-Type": FORMS[2]}),
    Hostile("malformed multipart/form-data", note(), 400, None,
            headers={"Content-Type": FORMS[2]}),  # refused by Tornado before any handler
    Hostile("compat: oversized body", note(message="x" * BODY_LIMIT), 413, None, COMPAT),
    Hostile("compat: javascript link", note(link=SCRIPT_URLS[0]), 400, None, COMPAT),
    Hostile("compat: 100 actions", note(actions=[{"label": "a"}] * 100), 413, None, COMPAT),
    Hostile("compat: text/plain", note(), 415, None, COMPAT, {"Content-Type": "text/plain"}),
    Hostile("alertmanager: deep JSON", b"[" * DEEP + b"]" * DEEP, 400, "body", ALERTMANAGER),
    Hostile("alertmanager: text/plain", b'{"version": "4", "alerts": []}', 415, "Content-Type",
            ALERTMANAGER, {"Content-Type": "text/plain"}),
]


class Streams:
    """Every stream in the test Redis and its length, to show that nothing was written."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def lengths(self) -> dict[bytes, int]:
        return {key: int(self.client.xlen(key)) for key in self.client.scan_iter(_type="STREAM")}


@pytest.fixture
def streams(redis_url: str) -> Iterator[Streams]:
    watched = Streams(redis_url)
    yield watched
    watched.client.close()


def refusal(answer: requests.Response) -> tuple[int, str | None]:
    body = answer.json()
    assert isinstance(body.get("error"), str) and body["error"], answer.text
    return answer.status_code, body.get("field")


def publish_one(session: requests.Session, url: str, streams: Streams,
                **headers: str) -> None:
    """A valid notification is written: the lengths above do see writes."""
    before = streams.lengths()
    answer = session.post(url + PUBLISH, data=note(message="still fine"),
                          headers={"Content-Type": "application/json", **headers}, timeout=20)
    assert answer.status_code == 201, answer.text
    after = streams.lengths()
    assert after[b"jln:broadcast"] == before.get(b"jln:broadcast", 0) + 1


@pytest.mark.timeout(180)
def test_hostile_requests_are_refused_clearly_and_write_nothing(
        jupyter_process: Callable[..., Any], redis_url: str, streams: Streams) -> None:
    server = jupyter_process(redis_url, "--JLN.ingest_rate_limit=100000",
                             "--JLN.ingest_burst=100000")
    session = requests.Session()
    session.headers["Authorization"] = f"token {server.token}"
    publish_one(session, server.url, streams)
    lengths = streams.lengths()
    seen, wrote = [], []
    for case in HOSTILE:
        answer = session.post(server.url + case.path, data=case.body, headers=case.headers,
                              timeout=20)
        seen.append((case.name, *refusal(answer)))
        if streams.lengths() != lengths:
            wrote.append(case.name)
            lengths = streams.lengths()
    print(f"{len(HOSTILE)} hostile requests, {len(wrote)} wrote to a stream")
    assert seen == [(case.name, case.status, case.field) for case in HOSTILE]
    assert wrote == []
    publish_one(session, server.url, streams)  # and the server is none the worse


def browser(url: str, token: str) -> requests.Session:
    """A session logged in as a browser is: the login form, then only cookies."""
    session = requests.Session()
    session.get(url + "login", timeout=20)
    answer = session.post(url + "login", data={"_xsrf": session.cookies["_xsrf"],
                                               "password": token},
                          allow_redirects=False, timeout=20)
    assert answer.status_code == 302, answer.text
    assert session.get(url + "jln/api/status", timeout=20).status_code == 200  # by cookie
    return session


@pytest.mark.parametrize("xsrf_checked", [True, False], ids=["xsrf-on", "xsrf-off"])
@pytest.mark.timeout(120)
def test_a_browser_form_cannot_publish_with_the_cookie(
        jupyter_process: Callable[..., Any], redis_url: str, streams: Streams,
        xsrf_checked: bool) -> None:
    """With jupyter_server's XSRF check, a form (no ``X-XSRFToken``) is refused 403; the
    content type refuses it too (415), also where ``disable_check_xsrf`` turned the check off
    and for a page that knows the XSRF token."""
    server = jupyter_process(redis_url, f"--ServerApp.disable_check_xsrf={not xsrf_checked}")
    session = browser(server.url, server.token)
    xsrf = {"X-XSRFToken": str(session.cookies["_xsrf"])}
    publish_one(session, server.url, streams, **xsrf)  # JupyterLab's own way is fine
    lengths = streams.lengths()
    answers = []
    for kind in FORMS:
        for extra in ({}, xsrf):
            answer = session.post(server.url + PUBLISH, data=form_body(kind),
                                  headers={"Content-Type": kind, **extra}, timeout=20)
            answers.append((kind, bool(extra), *refusal(answer)))
            assert streams.lengths() == lengths, (kind, extra)
    form_refusal = (403, None) if xsrf_checked else (415, "Content-Type")
    assert answers == [(kind, with_xsrf, *((415, "Content-Type") if with_xsrf else form_refusal))
                       for kind in FORMS for with_xsrf in (False, True)]
