"""docker/jupyterhub_config.py, the README's worked hub config, run by a real JupyterHub: the
file itself, with only this machine's ports, directories and Python in place of the
container's. Its users log in with its passwords, alice's server runs JupyterLab with JLN on
the Redis of ``$JLN_URL`` and follows her group ``ml`` as the hub changes it (with the scopes
the file grants), and the admin reaches the announcement service it declares."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import RedisServer
from server.clients import free_port, messages, xadd

from .browser import TIMEOUT, Browser
from .hub_process import HubProcess, HubSetup
from .test_hub_notifications import until_groups

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

CONFIG = Path(__file__).resolve().parents[2] / "docker" / "jupyterhub_config.py"
SERVICE = "announcements"


@pytest.fixture(scope="module")
def hub_setup() -> HubSetup:
    """The file's people (alice, bob, ml, admin), which the browsers' passwords follow; its
    announcement service on a free port, started with this Python."""
    return HubSetup(
        config_file=CONFIG, server_args=("--JLN.hub_groups_interval=1",),
        extra_config=(
            f"[_service] = [s for s in c.JupyterHub.services if s['name'] == {SERVICE!r}]",
            f"_service.update(url='http://127.0.0.1:{free_port()}', "
            f"command=[{sys.executable!r}, '-m', 'jln_hub'])",
        ))


async def test_alice_logs_in_and_her_server_reads_her_groups_notifications(
        hub: HubProcess, browser: Callable[..., Browser], redis_server: RedisServer) -> None:
    alice = await asyncio.to_thread(browser, "alice")
    await until_groups(alice, ["ml"])
    socket = await alice.websocket("alice")
    try:
        await socket.hello()
        await xadd(redis_server, "jln:group:ml", message="ml: from the docker config")
        items, _, _ = await socket.notifications(1)
    finally:
        socket.close()

    assert messages(items) == ["ml: from the docker config"]


async def test_alice_leaving_ml_on_the_hub_is_followed_with_the_files_scopes(
        hub: HubProcess, browser: Callable[..., Browser]) -> None:
    alice = await asyncio.to_thread(browser, "alice")
    await until_groups(alice, ["ml"])

    await asyncio.to_thread(hub.api, "DELETE", "groups/ml/users", {"users": ["alice"]})
    try:
        await until_groups(alice, [])
    finally:
        await asyncio.to_thread(hub.api, "POST", "groups/ml/users", {"users": ["alice"]})
    await until_groups(alice, ["ml"])


async def test_the_admin_opens_the_announcement_service(
        hub: HubProcess, browser: Callable[..., Browser]) -> None:
    admin = Browser(hub, "admin")
    await asyncio.to_thread(admin.login)

    page = await asyncio.to_thread(admin.session.get, f"{hub.url}services/{SERVICE}/",
                                   timeout=TIMEOUT)

    assert page.status_code == 200, page.text[:300]
    assert page.url.startswith(f"{hub.url}services/{SERVICE}/"), page.url
