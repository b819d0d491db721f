"""A server under JupyterHub asks the hub for its owner's groups (JLN.hub_groups_interval):
what the hub says is followed and outranks the user models requests carry, which the hub
client caches; while the hub cannot be asked, requests still tell. The hub here is a stand-in
for its ``hub/api/user`` on a real port; tests/hub/ runs the real one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from tornado import web
from tornado.httpserver import HTTPServer

from .clients import FRAME_TIMEOUT, free_port

Fetch = Callable[..., Any]
TOKEN = "server-token-from-the-hub"

pytestmark = [pytest.mark.asyncio, pytest.mark.jln(user="ada", hub_groups_interval=0.1)]


class HubUser(web.RequestHandler):
    """``GET hub/api/user``: ada's model, to the server's token only."""

    def initialize(self, hub: dict[str, Any]) -> None:
        self.hub = hub

    def get(self) -> None:
        if self.request.headers.get("Authorization") != f"token {TOKEN}":
            raise web.HTTPError(403)
        self.hub["asked"] += 1
        if self.hub["refuse"]:
            raise web.HTTPError(503)
        self.finish({"kind": "user", "name": "ada", "groups": self.hub["groups"]})


@pytest_asyncio.fixture
async def hub() -> AsyncIterator[dict[str, Any]]:
    """The stand-in's state: ada's ``groups``, how often it was ``asked``, whether it
    ``refuse``s (503), its ``port``."""
    state: dict[str, Any] = {"groups": ["ml"], "asked": 0, "refuse": False,
                             "port": free_port()}
    server = HTTPServer(web.Application([("/hub/api/user", HubUser, {"hub": state})]))
    server.listen(state["port"], "127.0.0.1")
    yield state
    server.stop()


@pytest.fixture
def jln_config(jln_config: dict[str, Any], hub: dict[str, Any],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """JupyterHub's environment for ada's server, its API at the stand-in."""
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
    monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{hub['port']}/hub/api")
    yield jln_config


def as_ada(jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch, groups: list[str]) -> None:
    """Every request comes from ada, with a (cached) hub model naming ``groups``."""
    from jupyter_server.auth.identity import User

    owner = User(username="ada")
    owner.hub_user = {"name": "ada", "groups": groups}  # type: ignore[attr-defined]
    monkeypatch.setattr(jp_serverapp.identity_provider, "get_user", lambda handler: owner)


async def until_streams(app: Any, predicate: Callable[[list[str]], bool]) -> list[str]:
    deadline = time.monotonic() + FRAME_TIMEOUT
    while not predicate(streams := list(app.service.fanout.streams)):
        assert time.monotonic() < deadline, f"still reading {streams}"
        await asyncio.sleep(0.05)
    return streams


async def test_the_groups_the_hub_names_are_read_and_a_group_left_is_dropped(
        jln_started: Any, hub: dict[str, Any]) -> None:
    await until_streams(jln_started, lambda s: "jln:group:ml" in s)

    hub["groups"] = ["gpu"]

    streams = await until_streams(jln_started, lambda s: "jln:group:ml" not in s)
    assert "jln:group:gpu" in streams


async def test_a_request_with_a_stale_model_does_not_bring_back_a_group_left(
        jln_started: Any, jp_serverapp: Any, jp_fetch: Fetch, hub: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub["groups"] = []
    asked = hub["asked"]  # the next answer says so; once another is asked, it was followed
    streams = await until_streams(jln_started, lambda s: hub["asked"] > asked + 1)
    assert "jln:group:ml" not in streams
    as_ada(jp_serverapp, monkeypatch, ["ml"])

    response = await jp_fetch("jln", "api", "notifications")

    assert response.code == 200
    assert "jln:group:ml" not in jln_started.service.fanout.streams


@pytest.fixture
def refusing(hub: dict[str, Any]) -> dict[str, Any]:
    """The stand-in answers 503, from before the server starts."""
    hub["refuse"] = True
    return hub


async def test_while_the_hub_cannot_be_asked_requests_tell_the_groups(
        refusing: dict[str, Any], jln_started: Any, jp_serverapp: Any, jp_fetch: Fetch,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await until_streams(jln_started, lambda s: refusing["asked"] >= 2)
    as_ada(jp_serverapp, monkeypatch, ["staff"])

    response = await jp_fetch("jln", "api", "notifications")

    assert response.code == 200
    assert "jln:group:staff" in jln_started.service.fanout.streams


@pytest.mark.timeout(60)
async def test_a_server_stopped_while_it_follows_the_hubs_answer_stops(
        jln_started: Any, hub: dict[str, Any]) -> None:
    """The server stops as soon as the hub has been asked, the answer's group still being
    loaded (the stop is this test's teardown). A stop arriving while a group change halted the
    reader was swallowed there, and the questions went on forever."""
    await until_streams(jln_started, lambda s: hub["asked"] > 0)
