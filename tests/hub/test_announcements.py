"""The announcement service under a real JupyterHub, as people use it: the hub starts it as a
managed service; the admin logs in on the hub and reaches its page and API through the hub's
proxy and OAuth. A notice to group ``ml`` arrives live on alice's socket and not bob's, its
receipts follow alice's acknowledgement and tell who has not started a server since, a
withdrawal takes the banner away live, a server started later shows what has not expired, and
only hub admins (or holders of the service's scope) may use it."""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import requests
from conftest import RedisServer
from server.clients import FRAME_TIMEOUT, Client, free_port, messages, xadd

from .browser import TIMEOUT, Browser, hidden_inputs
from .hub_process import HubProcess, HubSetup

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

SERVICE = "jln-announce"
PATH = f"services/{SERVICE}/"


@pytest.fixture(scope="module")
def hub_setup(redis_server: RedisServer) -> HubSetup:
    """carol (in ml) starts her server only when a test says so; dana is no admin but holds
    the service's scope. Every user may pass the hub's access check for the service, so the
    service's own check is what refuses bob."""
    redis_server.start()
    service = {"name": SERVICE, "url": f"http://127.0.0.1:{free_port()}",
               "command": [sys.executable, "-m", "jln_hub"],
               "environment": {"JLN_URL": redis_server.url, "JLN_PREFIX": "jln"},
               "oauth_client_allowed_scopes": ["custom:jln:announce"],
               "oauth_no_confirm": True}
    roles = [
        {"name": "jln-announce-service", "services": [SERVICE],
         "scopes": ["list:users", "read:users", "read:users:groups", "read:servers",
                    "read:groups"]},
        {"name": "jln-announcer", "users": ["dana"],
         "scopes": ["custom:jln:announce", f"access:services!service={SERVICE}"]},
        {"name": "user", "scopes": ["self", f"access:services!service={SERVICE}"]},
    ]
    return HubSetup(
        users=("alice", "bob", "carol", "dana"), groups={"ml": ("alice", "carol")},
        extra_config=(
            "c.JupyterHub.custom_scopes = {'custom:jln:announce': "
            "{'description': 'Send, list and withdraw JLN announcements'}}",
            f"c.JupyterHub.services.append({service!r})",
            f"c.JupyterHub.load_roles.extend({roles!r})"))


class Desk:
    """A person's browser on the announcement service: its page (the hub's OAuth on the
    way), its forms, and its API with the XSRF header a page script would send."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.url = browser.hub.url + PATH

    def open(self, path: str = "") -> requests.Response:
        return self.browser.session.get(self.url + path, timeout=TIMEOUT)

    def submit(self, page: requests.Response, action: str, **fields: str) -> requests.Response:
        """Submit the form of ``page`` posting to ``action``, its hidden fields (the XSRF
        token) included, as a click on its button would."""
        return self.browser.session.post(self.url + action, timeout=TIMEOUT,
                                         data=[*hidden_inputs(page.text), *fields.items()])

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        xsrf = self.browser.session.cookies.get("_xsrf", path=f"/{PATH}") or ""
        answer = self.browser.session.request(
            method, self.url + "api/" + path, json=body, timeout=TIMEOUT,
            headers={"X-XSRFToken": xsrf})
        assert answer.headers.get("Content-Type", "").startswith("application/json"), (
            f"{answer.status_code} at {answer.url}: {answer.text[:300]}")
        return answer.status_code, answer.json()


def token_api(hub: HubProcess, token: str | None, method: str, path: str,
              body: Any = None) -> tuple[int, Any]:
    """The service's API with a hub token (a script's way), or with no credentials."""
    headers = {"Authorization": f"token {token}"} if token else {}
    answer = requests.request(method, hub.url + PATH + "api/" + path, json=body,
                              headers=headers, timeout=TIMEOUT)
    return answer.status_code, answer.json()


@pytest.fixture(scope="module")
def desk(hub: HubProcess) -> Desk:
    """The hub admin, logged in on the hub, with the service's page opened once."""
    admin = Browser(hub, "admin")
    admin.login()
    desk = Desk(admin)
    page = desk.open()
    assert page.status_code == 200 and page.url == desk.url, (page.status_code, page.url)
    return desk


@pytest.fixture(scope="module")
def people(hub: HubProcess, browser: Callable[..., Browser]) -> dict[str, Browser]:
    """alice and bob logged in, each with their own server open."""
    return {"alice": browser("alice"), "bob": browser("bob")}


@pytest_asyncio.fixture
async def sockets(people: dict[str, Browser]) -> AsyncIterator[dict[str, Client]]:
    opened = {name: await people[name].websocket(name) for name in people}
    for client in opened.values():
        await client.hello()
    yield opened
    for client in opened.values():
        client.close()


async def send(desk: Desk, **body: Any) -> dict[str, Any]:
    code, notice = await asyncio.to_thread(desk.api, "POST", "notices", body)
    assert code == 201, notice
    return dict(notice)


async def receipts(desk: Desk, notice: dict[str, Any]) -> dict[str, str]:
    code, answer = await asyncio.to_thread(desk.api, "GET", f"notices/{notice['id']}/receipts")
    assert code == 200, answer
    return {r["user"]: r["status"] for r in answer["receipts"]}


async def server_api(browser: Browser, method: str, path: str, body: Any = None
                     ) -> tuple[int, Any]:
    """``method`` on the browser's own server's ``jln/api/<path>``, as JupyterLab calls it."""
    answer = await asyncio.to_thread(browser.request, method, browser.user, "jln/api/" + path,
                                     body)
    return answer.status_code, answer.json()


async def banners(browser: Browser, until: Callable[[dict[str, Any]], bool]
                  ) -> dict[str, dict[str, Any]]:
    """The pinned notifications the browser's server lists (what JupyterLab shows as banners
    on connecting), by key, once ``until`` holds of them (the server may still be learning
    its groups)."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        code, page = await server_api(browser, "GET", "notifications?pinned=true")
        assert code == 200, page
        found = {item["key"]: item for item in page["notifications"] if "key" in item}
        if until(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def until_in_ml(alice: Browser) -> None:
    """Wait until alice's server reads group ml, which it learns from the hub."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while (await server_api(alice, "GET", "status"))[1]["groups"] != ["ml"]:
        assert time.monotonic() < deadline, "alice's server never read ml"
        await asyncio.sleep(0.1)


async def never_got(client: Client, user: str, redis_server: RedisServer) -> None:
    """Nothing came to ``client`` before a notification to ``user`` published now."""
    marker = f"only for {user} at {time.monotonic()}"
    await xadd(redis_server, f"jln:user:{user}", message=marker)
    items, _, _ = await client.notifications(1)
    assert messages(items) == [marker]


async def test_a_notice_to_ml_reaches_alice_live_not_bob_and_her_acknowledgement_is_its_receipt(
        desk: Desk, people: dict[str, Browser], sockets: dict[str, Client],
        redis_server: RedisServer) -> None:
    await until_in_ml(people["alice"])
    notice = await send(desk, message="GPU nodes down at 18:00", groups=["ml"], pinned=True,
                        requireAck=True, type="warning",
                        expiresAt=int(time.time() * 1000) + 3_600_000)

    [item], _, _ = await sockets["alice"].notifications(1)
    assert (item["message"], item["pinned"], item["requireAck"], item["key"]) == (
        "GPU nodes down at 18:00", True, True, notice["key"])
    assert [item["id"]] == notice["ids"] and notice["sentBy"] == "admin"
    await never_got(sockets["bob"], "bob", redis_server)
    assert await receipts(desk, notice) == {"alice": "unread", "carol": "not-started"}

    code, answer = await server_api(people["alice"], "POST", "notifications/state",
                                    {"ids": notice["ids"], "read": True})

    assert code == 200, answer
    assert await receipts(desk, notice) == {"alice": "acknowledged", "carol": "not-started"}


async def test_a_notice_to_everyone_counts_who_has_a_server_and_who_has_not(
        desk: Desk, sockets: dict[str, Client]) -> None:
    notice = await send(desk, message="Hub upgrade on Friday", everyone=True)

    for name in ("alice", "bob"):
        items, _, _ = await sockets[name].notifications(1)
        assert messages(items) == ["Hub upgrade on Friday"], name
    assert await receipts(desk, notice) == {
        "admin": "not-started", "alice": "unread", "bob": "unread", "carol": "not-started",
        "dana": "not-started"}


async def test_the_page_sends_and_withdraws_and_the_banner_goes_live(
        desk: Desk, people: dict[str, Browser], sockets: dict[str, Client]) -> None:
    page = await asyncio.to_thread(desk.open)
    sent = await asyncio.to_thread(desk.submit, page, "notices", message="Read <the> policy",
                                   audience="users", names="alice", pinned="on", type="info")
    assert sent.status_code == 200 and "/notices/" in sent.url, (sent.status_code, sent.url)
    assert "Read &lt;the&gt; policy" in sent.text and "<the>" not in sent.text
    notice_id = sent.url.rsplit("/", 1)[1]
    [item], _, _ = await sockets["alice"].notifications(1)
    assert item["pinned"] is True
    assert item["key"] in await banners(people["alice"], lambda found: item["key"] in found)

    withdrawn = await asyncio.to_thread(desk.submit, sent, f"notices/{notice_id}/withdraw")

    assert withdrawn.status_code == 200 and "withdrawn" in withdrawn.text
    [gone], _, _ = await sockets["alice"].notifications(1)
    assert (gone["key"], gone.get("pinned"), gone["message"]) == (
        item["key"], None, "Withdrawn: Read <the> policy")
    assert item["key"] not in await banners(people["alice"], lambda found: True)
    code, again = await asyncio.to_thread(desk.api, "DELETE", f"notices/{notice_id}")
    assert (code, again["field"]) == (409, "id")
    code, record = await asyncio.to_thread(desk.api, "GET", f"notices/{notice_id}")
    assert (code, record["status"], record["withdrawnBy"]) == (200, "withdrawn", "admin")


async def test_a_server_started_later_shows_what_has_not_expired(
        desk: Desk, hub: HubProcess, browser: Callable[..., Browser]) -> None:
    now = int(time.time() * 1000)
    lasting = await send(desk, message="Quota policy", users=["carol"], pinned=True,
                         expiresAt=now + 3_600_000)
    brief = await send(desk, message="Restart in 2 minutes", users=["carol"], pinned=True,
                       expiresAt=now + 3_000)
    asking = await send(desk, message="Sign the ml data agreement", groups=["ml"],
                        requireAck=True)
    assert (await receipts(desk, lasting))["carol"] == "not-started"
    await asyncio.sleep(max(0.0, (brief["expiresAt"] - time.time() * 1000) / 1000) + 0.2)

    carol = await asyncio.to_thread(browser, "carol")  # her server starts now

    wanted = {lasting["key"], asking["key"]}
    found = await banners(carol, lambda found: wanted <= set(found))
    assert wanted <= set(found) and brief["key"] not in found
    assert found[asking["key"]]["read"] is False  # an acknowledgement is hers to give
    assert (await receipts(desk, lasting))["carol"] == "unread"
    assert (await receipts(desk, asking))["carol"] == "unread"


async def test_only_hub_admins_and_holders_of_the_scope_may_use_it(
        hub: HubProcess, people: dict[str, Browser], desk: Desk) -> None:
    bob = Desk(people["bob"])
    tokens = {user: (await asyncio.to_thread(hub.api, "POST", f"users/{user}/tokens",
                                             {"note": "announcements test"}))["token"]
              for user in ("bob", "dana")}

    page = await asyncio.to_thread(bob.open)
    assert page.status_code == 403 and "custom:jln:announce" in page.text
    code, answer = await asyncio.to_thread(bob.api, "GET", "notices")
    assert code == 403 and "custom:jln:announce" in answer["error"]
    code, answer = await asyncio.to_thread(token_api, hub, tokens["bob"], "POST", "notices",
                                           {"message": "hi", "everyone": True})
    assert code == 403, answer
    code, answer = await asyncio.to_thread(token_api, hub, None, "GET", "notices")
    assert code == 403, answer
    code, answer = await asyncio.to_thread(token_api, hub, tokens["dana"], "GET", "notices")
    assert code == 200 and isinstance(answer["notices"], list), answer


@pytest.mark.parametrize(("body", "field", "status"), [
    pytest.param({"message": "hi"}, "everyone", 400, id="no-audience"),
    pytest.param({"message": "hi", "groups": ["no-such-group"]}, "groups[0]", 400,
                 id="unknown-group"),
    pytest.param({"message": "hi", "users": ["alice", "mallory"]}, "users[1]", 400,
                 id="unknown-user"),
    pytest.param({"message": "x" * 10_001, "everyone": True}, "message", 413, id="too-long"),
    pytest.param({"message": "hi", "everyone": True, "expiresAt": 1}, "expiresAt", 400,
                 id="expired"),
    pytest.param({"message": "hi", "everyone": True, "type": "loud"}, "type", 400,
                 id="bad-type"),
    pytest.param({"message": "hi", "everyone": True, "colour": "red"}, "colour", 400,
                 id="unknown-field"),
])
async def test_bad_input_is_refused_naming_the_field(desk: Desk, body: dict[str, Any],
                                                     field: str, status: int) -> None:
    code, answer = await asyncio.to_thread(desk.api, "POST", "notices", body)

    assert (code, answer["field"]) == (status, field), answer


async def test_unknown_notices_and_paths_are_json_404s(desk: Desk) -> None:
    for path, field in (("notices/0123abcd/receipts", "id"), ("notices/nope", "id"),
                        ("elsewhere", "path")):
        code, answer = await asyncio.to_thread(desk.api, "GET", urllib.parse.quote(path))
        assert (code, answer["field"]) == (404, field), path
