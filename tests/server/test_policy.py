"""Who may publish to whom. A standalone server serves one person, so anyone holding its token may
notify anyone; under JupyterHub a server may notify its own user only, unless the request carries
the publisher secret or comes from a hub admin."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from jln_broker.model import validate
from jln_server.identity import Forbidden, Owner, PublishPolicy, find_owner

Fetch = Callable[..., Any]
SECRET = "s3cret-for-ci"

EVERYONE = {"message": "maintenance at 6"}
ADA = {"message": "your job finished", "users": ["ada"]}
BOB = {"message": "psst", "users": ["bob"]}
ADA_AND_BOB = {"message": "both of you", "users": ["ada", "bob"]}
GROUP = {"message": "ml team", "groups": ["ml"]}
ADA_AND_GROUP = {"message": "ada and ml", "users": ["ada"], "groups": ["ml"]}


async def publish(jp_fetch: Fetch, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    response = await jp_fetch("jln", "api", "notifications", method="POST",
                              body=json.dumps(body), headers=headers, raise_error=False)
    return response.code, json.loads(response.body)


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [EVERYONE, ADA, BOB, GROUP], ids=["broadcast", "ada", "bob",
                                                                   "group"])
@pytest.mark.jln(user="ada")
async def test_a_standalone_server_may_notify_anyone(jp_fetch: Fetch,
                                                     body: dict[str, Any]) -> None:
    assert (await publish(jp_fetch, body))[0] == 201


@pytest.mark.jln(publisher_secret=SECRET)
class TestUnderJupyterHub:
    """The in-process server started with JupyterHub's environment for user ada."""

    @pytest.fixture
    def jln_config(self, jln_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[dict[str, Any]]:
        monkeypatch.setenv("JUPYTERHUB_USER", "ada")
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "from-the-hub")
        yield jln_config

    @pytest.mark.asyncio
    async def test_the_owner_may_be_notified(self, jp_fetch: Fetch) -> None:
        assert (await publish(jp_fetch, ADA))[0] == 201

    @pytest.mark.asyncio
    @pytest.mark.parametrize("body", [EVERYONE, BOB, ADA_AND_BOB, GROUP, ADA_AND_GROUP],
                             ids=["broadcast", "bob", "ada-and-bob", "group", "ada-and-group"])
    async def test_anyone_else_is_forbidden_without_the_secret(
            self, jp_fetch: Fetch, redis_url: str, redis_server: Any,
            body: dict[str, Any]) -> None:
        code, answer = await publish(jp_fetch, body)

        assert code == 403
        assert "X-JLN-Secret" in answer["error"]
        # Nothing written but the epoch the reader keeps beside the streams.
        assert set(redis_server.cli("KEYS", "jln:*").split()) <= {"jln:epoch"}

    @pytest.mark.asyncio
    @pytest.mark.parametrize("body", [EVERYONE, BOB, GROUP], ids=["broadcast", "bob", "group"])
    async def test_the_publisher_secret_opens_every_audience(
            self, jp_fetch: Fetch, body: dict[str, Any]) -> None:
        assert (await publish(jp_fetch, body, **{"X-JLN-Secret": SECRET}))[0] == 201

    @pytest.mark.asyncio
    @pytest.mark.parametrize("secret", ["wrong", "", SECRET + "x", "s3cret-for-c\u00ee"],
                             ids=["wrong", "empty", "longer", "not-ascii"])
    async def test_a_wrong_secret_is_forbidden(self, jp_fetch: Fetch, secret: str) -> None:
        code, _ = await publish(jp_fetch, EVERYONE, **{"X-JLN-Secret": secret})

        assert code == 403

    @pytest.mark.asyncio
    async def test_status_names_the_hub_user(self, jp_fetch: Fetch) -> None:
        status = json.loads((await jp_fetch("jln", "api", "status")).body)

        assert status["user"] == "ada"
        assert "jln:user:ada" in status["reader"]["streams"]


# --- PublishPolicy itself: the hub admin, and a server without a secret ---------------------

HUB_ADA = Owner("ada", under_hub=True)


def audience(body: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    notification = validate(body)
    return notification.users, notification.groups


def hub_request(**model: Any) -> Any:
    """The current user jupyter_server builds under JupyterHub: ``hub_user`` is the hub's model."""
    return SimpleNamespace(username="someone", hub_user={"name": "someone", **model})


@pytest.mark.parametrize("body", [EVERYONE, BOB, GROUP], ids=["broadcast", "bob", "group"])
def test_a_hub_admin_may_notify_anyone(body: dict[str, Any]) -> None:
    PublishPolicy(HUB_ADA).check(*audience(body), hub_request(admin=True), None)


@pytest.mark.parametrize("user", [hub_request(admin=False), hub_request(), None,
                                  SimpleNamespace(hub_user="admin")],
                         ids=["not-admin", "no-admin-key", "no-user", "odd-model"])
def test_anyone_but_a_hub_admin_is_forbidden_to_broadcast(user: Any) -> None:
    with pytest.raises(Forbidden):
        PublishPolicy(HUB_ADA).check(*audience(EVERYONE), user, None)


@pytest.mark.parametrize("header", ["", None, "anything"])
def test_without_a_configured_secret_no_header_opens_anything(header: str | None) -> None:
    with pytest.raises(Forbidden):
        PublishPolicy(HUB_ADA, secret="").check(*audience(EVERYONE), hub_request(), header)


def test_the_hub_user_is_the_owner_and_makes_the_policy_strict() -> None:
    owner = find_owner("", [], env={"JUPYTERHUB_USER": "ada", "JUPYTERHUB_API_TOKEN": "t"})
    standalone = find_owner("", [], env={})

    assert (owner.name, owner.under_hub) == ("ada", True)
    assert standalone.under_hub is False
    PublishPolicy(standalone).check(*audience(EVERYONE), None, None)


def test_a_secret_with_non_ascii_characters_works_as_any_other() -> None:
    policy = PublishPolicy(HUB_ADA, secret="cl\u00e9-\u2603")

    policy.check(*audience(EVERYONE), hub_request(), "cl\u00e9-\u2603")
    with pytest.raises(Forbidden):
        policy.check(*audience(EVERYONE), hub_request(), "cle-\u2603")


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_a_visiting_hub_users_groups_are_not_read_for_the_owner(
        jln_started: Any, jp_serverapp: Any, jp_fetch: Fetch,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_server.auth.identity import User

    visitor = User(username="eve")
    visitor.hub_user = {"name": "eve", "admin": True, "groups": ["secret"]}  # type: ignore[attr-defined]
    monkeypatch.setattr(jp_serverapp.identity_provider, "get_user", lambda handler: visitor)

    response = await jp_fetch("jln", "api", "notifications", raise_error=False)

    assert response.code == 200
    assert "jln:group:secret" not in jln_started.service.fanout.streams


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_the_owners_hub_groups_are_read(
        jln_started: Any, jp_serverapp: Any, jp_fetch: Fetch,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_server.auth.identity import User

    owner = User(username="ada")
    owner.hub_user = {"name": "ada", "groups": ["ml"]}  # type: ignore[attr-defined]
    monkeypatch.setattr(jp_serverapp.identity_provider, "get_user", lambda handler: owner)

    response = await jp_fetch("jln", "api", "notifications", raise_error=False)

    assert response.code == 200
    assert "jln:group:ml" in jln_started.service.fanout.streams


@pytest.mark.asyncio
@pytest.mark.jln(user="ada", groups=["staff"])
async def test_a_hub_group_the_owner_left_is_no_longer_read(
        jln_started: Any, jp_serverapp: Any, jp_fetch: Fetch,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_server.auth.identity import User

    owner = User(username="ada")
    owner.hub_user = {"name": "ada", "groups": ["ml"]}  # type: ignore[attr-defined]
    monkeypatch.setattr(jp_serverapp.identity_provider, "get_user", lambda handler: owner)
    await jp_fetch("jln", "api", "notifications")
    owner.hub_user = {"name": "ada", "groups": []}  # type: ignore[attr-defined]

    response = await jp_fetch("jln", "api", "notifications", raise_error=False)

    assert response.code == 200
    streams = jln_started.service.fanout.streams
    assert "jln:group:ml" not in streams
    assert "jln:group:staff" in streams  # configured groups stay
