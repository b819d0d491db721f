"""JLN under a real JupyterHub, used as browsers use it: each person logs in on the hub's form
and reaches the single-user servers through the hub's proxy and OAuth, alice and bob each
with their own server on one Redis. Group and user notifications reach only their audience,
alice's server follows her groups as the hub changes them, the publish policy holds (the hub
admin and the publisher secret may broadcast, alice may not notify bob), and each inbox is
its own."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from conftest import RedisServer
from server.clients import FRAME_TIMEOUT, Client, messages, xadd

from .browser import Browser
from .hub_process import HubProcess, HubSetup

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

GROUPS_INTERVAL = 1.0
"""JLN.hub_groups_interval of the servers here: how soon a change of groups on the hub is
followed (the hub client's own cache would keep a left group for five minutes)."""


@pytest.fixture(scope="module")
def hub_setup() -> HubSetup:
    return HubSetup(server_args=(f"--JLN.hub_groups_interval={GROUPS_INTERVAL:g}",))


@pytest.fixture(scope="module")
def people(hub: HubProcess, browser: Callable[..., Browser]) -> dict[str, Browser]:
    """alice and bob in their own servers, the admin in alice's; both servers started side by
    side first."""
    hub.spawn("alice", "bob")
    return {"alice": browser("alice"), "bob": browser("bob"),
            "admin": browser("admin", "alice")}


@pytest_asyncio.fixture
async def sockets(people: dict[str, Browser]) -> AsyncIterator[dict[str, Client]]:
    """alice's and bob's WebSockets on their own servers, each past its hello."""
    opened = {name: await people[name].websocket(name) for name in ("alice", "bob")}
    for client in opened.values():
        await client.hello()
    yield opened
    for client in opened.values():
        client.close()


async def call(browser: Browser, method: str, owner: str, path: str, body: Any = None,
               **headers: str) -> tuple[int, Any]:
    """``method`` on ``owner``'s ``jln/api/<path>`` from ``browser``; the code and JSON."""
    response = await asyncio.to_thread(browser.request, method, owner, "jln/api/" + path,
                                       body, headers)
    assert response.headers.get("Content-Type", "").startswith("application/json"), (
        f"not JLN's answer: {response.status_code} at {response.url}: {response.text[:300]}")
    return response.status_code, response.json()


async def groups_of(browser: Browser) -> list[str]:
    code, status = await call(browser, "GET", browser.user, "status")
    assert code == 200, status
    return list(status["groups"])


async def until_groups(browser: Browser, expected: list[str]) -> float:
    """Wait until the user's own server reads ``expected`` groups; the seconds it took."""
    start = time.monotonic()
    while (got := await groups_of(browser)) != expected:
        assert time.monotonic() - start < FRAME_TIMEOUT, f"groups still {got}"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def never_got(client: Client, user: str, redis_server: RedisServer) -> None:
    """Assert ``client`` was sent nothing before a notification to ``user`` published now:
    its socket is live, and whatever it was not meant to have did not come first."""
    marker = f"only for {user} at {time.monotonic()}"
    await xadd(redis_server, f"jln:user:{user}", message=marker)
    items, _, _ = await client.notifications(1)
    assert messages(items) == [marker]


async def held(browser: Browser, notification_id: str) -> dict[str, Any]:
    """The item once the browser's own server has read it (publishing returns before)."""
    path = "notifications/" + urllib.parse.quote(notification_id, safe="")
    deadline = time.monotonic() + FRAME_TIMEOUT
    while (answer := await call(browser, "GET", browser.user, path))[0] != 200:
        assert time.monotonic() < deadline, f"{notification_id} never reached {browser.user}"
        await asyncio.sleep(0.1)
    return dict(answer[1])


async def test_each_server_learns_its_users_groups_from_the_hub(
        people: dict[str, Browser]) -> None:
    await until_groups(people["alice"], ["ml"])
    await until_groups(people["bob"], [])


async def test_a_group_notification_reaches_alice_and_not_bob(
        people: dict[str, Browser], sockets: dict[str, Client],
        redis_server: RedisServer) -> None:
    await until_groups(people["alice"], ["ml"])

    await xadd(redis_server, "jln:group:ml", message="ml: GPU quota raised", type="success")

    items, _, _ = await sockets["alice"].notifications(1)
    assert messages(items) == ["ml: GPU quota raised"]
    assert items[0]["stream"] == "jln:group:ml"
    await never_got(sockets["bob"], "bob", redis_server)


async def test_a_user_notification_reaches_only_its_user(
        sockets: dict[str, Client], redis_server: RedisServer) -> None:
    await xadd(redis_server, "jln:user:bob", message="bob: your job finished")

    items, _, _ = await sockets["bob"].notifications(1)
    assert messages(items) == ["bob: your job finished"]
    await never_got(sockets["alice"], "alice", redis_server)


async def test_alice_may_not_notify_bob(people: dict[str, Browser], sockets: dict[str, Client],
                                        redis_server: RedisServer) -> None:
    code, answer = await call(people["alice"], "POST", "alice", "notifications",
                              {"message": "psst", "users": ["bob"]})

    assert code == 403
    assert answer["error"].startswith("only the owner (alice) may be notified from here")
    assert "X-JLN-Secret" in answer["error"] and "JupyterHub admin" in answer["error"]
    await never_got(sockets["bob"], "bob", redis_server)


async def test_alice_may_notify_herself(people: dict[str, Browser],
                                        sockets: dict[str, Client]) -> None:
    code, answer = await call(people["alice"], "POST", "alice", "notifications",
                              {"message": "note to self", "users": ["alice"]})

    assert code == 201, answer
    items, _, _ = await sockets["alice"].notifications(1)
    assert messages(items) == ["note to self"]


@pytest.mark.parametrize("who", ["admin", "secret"])
async def test_the_hub_admin_and_the_publisher_secret_may_broadcast(
        people: dict[str, Browser], sockets: dict[str, Client], hub: HubProcess,
        who: str) -> None:
    """The admin in alice's server (the hub's admin role reaches every server); alice with the
    publisher secret."""
    headers = {"X-JLN-Secret": hub.publisher_secret} if who == "secret" else {}
    browser = people["admin"] if who == "admin" else people["alice"]
    message = f"maintenance tonight, from the {who}"

    code, answer = await call(browser, "POST", "alice", "notifications", {"message": message},
                              **headers)

    assert code == 201, answer
    for name in ("alice", "bob"):
        items, _, _ = await sockets[name].notifications(1)
        assert messages(items) == [message], name


async def test_a_wrong_publisher_secret_may_not_broadcast(people: dict[str, Browser]) -> None:
    code, answer = await call(people["alice"], "POST", "alice", "notifications",
                              {"message": "everyone!"}, **{"X-JLN-Secret": "guessed"})

    assert code == 403, answer


async def test_a_read_in_alices_inbox_is_not_a_read_in_bobs(
        people: dict[str, Browser], hub: HubProcess) -> None:
    code, answer = await call(people["admin"], "POST", "alice", "notifications",
                              {"message": "new cluster policy"})
    assert code == 201, answer
    [notification_id] = answer["ids"]
    await held(people["alice"], notification_id)
    await held(people["bob"], notification_id)

    code, answer = await call(people["alice"], "POST", "alice", "notifications/state",
                              {"ids": [notification_id], "read": True})

    assert code == 200, answer
    assert (await held(people["alice"], notification_id))["read"] is True
    assert (await held(people["bob"], notification_id))["read"] is False


async def test_alice_stops_reading_ml_soon_after_the_hub_removes_her_and_reads_it_again_when_added(
        people: dict[str, Browser], sockets: dict[str, Client], hub: HubProcess,
        redis_server: RedisServer) -> None:
    """alice's own requests carry a user model the hub client cached with ``ml`` in it; her
    server asks the hub itself, every JLN.hub_groups_interval."""
    alice = people["alice"]
    await until_groups(alice, ["ml"])

    await asyncio.to_thread(hub.api, "DELETE", "groups/ml/users", {"users": ["alice"]})
    try:
        took = await until_groups(alice, [])
        assert took < GROUPS_INTERVAL + 10, took
        await xadd(redis_server, "jln:group:ml", message="ml only: alice has left")
        await never_got(sockets["alice"], "alice", redis_server)
    finally:
        await asyncio.to_thread(hub.api, "POST", "groups/ml/users", {"users": ["alice"]})

    await until_groups(alice, ["ml"])
    await xadd(redis_server, "jln:group:ml", message="ml: welcome back")
    items, _, _ = await sockets["alice"].notifications(1)
    assert messages(items) == ["ml: welcome back"]
