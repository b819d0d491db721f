"""The owner token the server gives its kernels and terminals: it notifies the owner (also when
no audience is named), and nothing else: other audiences, reading the inbox, the socket."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from jln_broker.discovery import SERVER_ROOT_ENV, SERVER_TOKEN_ENV, SERVER_URL_ENV
from jln_broker.errors import PublishRejected
from jln_broker.http import NOTIFICATIONS_PATH, ServerAPI
from jln_broker.publisher import Publisher

from .clients import InProcess, connect, ws_url

pytestmark = [pytest.mark.asyncio, pytest.mark.jln(user="ada")]


def owner_token(server: InProcess) -> str:
    return str(server.service.policy.owner_token)


async def call(server: InProcess, method: str, path: str, token: str,
               body: Any = None, secret: str | None = None) -> tuple[int, Any]:
    api = ServerAPI(server.url, token, secret)
    try:
        return await asyncio.to_thread(api.call, method, path, body=body)
    except PublishRejected as err:
        return err.status, err.reason


async def test_the_server_puts_its_url_root_and_owner_token_in_its_environment(
        server: InProcess, jp_serverapp: Any, jp_root_dir: Any) -> None:
    assert os.environ[SERVER_URL_ENV] == jp_serverapp.connection_url
    assert os.environ[SERVER_TOKEN_ENV] == owner_token(server)
    assert os.environ[SERVER_TOKEN_ENV] != server.token
    assert os.environ[SERVER_ROOT_ENV] == str(jp_root_dir)


async def test_the_owner_token_notifies_the_owner_and_no_audience_means_the_owner(
        server: InProcess) -> None:
    token = owner_token(server)
    named = await call(server, "POST", NOTIFICATIONS_PATH, token,
                       {"message": "for ada", "users": ["ada"]})
    unnamed = await call(server, "POST", NOTIFICATIONS_PATH, token, {"message": "for me"})
    assert named[0] == unnamed[0] == 201
    assert [i.rpartition("/")[0] for i in named[1]["ids"] + unnamed[1]["ids"]] == [
        "jln:user:ada", "jln:user:ada"]


@pytest.mark.parametrize("audience", [{"users": ["bob"]}, {"users": ["ada", "bob"]},
                                      {"groups": ["ml"]}], ids=["bob", "ada-and-bob", "group"])
async def test_the_owner_token_is_refused_for_anyone_else(server: InProcess,
                                                          audience: dict[str, Any]) -> None:
    status, reason = await call(server, "POST", NOTIFICATIONS_PATH, owner_token(server),
                                {"message": "psst", **audience})
    assert status == 403
    assert "may only notify ada" in reason and owner_token(server) not in reason


async def test_the_owner_token_reads_nothing(server: InProcess) -> None:
    token = owner_token(server)
    assert (await call(server, "GET", NOTIFICATIONS_PATH, token))[0] == 403
    assert (await call(server, "GET", "jln/api/notifications/count", token))[0] == 403
    assert (await call(server, "GET", "jln/api/status", token))[0] == 403
    with pytest.raises(Exception, match="403"):
        await connect(ws_url(server.url), token)


async def test_a_wrong_owner_token_is_refused(server: InProcess) -> None:
    status, _ = await call(server, "POST", NOTIFICATIONS_PATH,
                           owner_token(server)[:-2] + "xx", {"message": "hi"})
    assert status == 403


async def test_publisher_without_a_url_uses_the_servers_environment_first(
        server: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JLN_URL", "redis://127.0.0.1:1/0")  # would fail: not used
    publisher = Publisher(retry_for=2.0)
    assert (publisher.url, publisher.token) == (os.environ[SERVER_URL_ENV], owner_token(server))
    ids = await asyncio.to_thread(publisher.publish, "from a kernel")
    assert ids[0].startswith("jln:user:ada/")
