"""Fixtures for a real JupyterHub, one per test module (starting it and a server takes seconds).

- ``hub_setup``: who is on the hub and what else its config says (``HubSetup``): alice and bob,
  group ``ml`` holding alice, hub admin ``admin``. Override it in a test module to add
  ``jupyterhub_config.py`` lines (a service, its role), single-user server arguments or
  environment.
- ``hub``: the running ``HubProcess`` (``.url``, ``.api()``, ``.spawn()``,
  ``.publisher_secret``), its single-user servers reading the session's private Redis.
- ``browser(user, server=None)``: ``user``'s ``Browser``, logged in on the hub, with
  ``server``'s (default: the user's own) JupyterLab opened through the hub's OAuth, the server
  started first if need be. Browsers and servers are kept for the module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conftest import RedisServer

from .browser import Browser
from .hub_process import HubProcess, HubSetup


@pytest.fixture(scope="module")
def hub_setup() -> HubSetup:
    """The hub's users, groups and extra config; a test module may override it."""
    return HubSetup()


@pytest.fixture(scope="module")
def hub(redis_server: RedisServer, hub_setup: HubSetup,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """A running JupyterHub with JLN in its single-user servers, stopped with all it started
    at the end of the module."""
    redis_server.start()
    process = HubProcess(tmp_path_factory.mktemp("hub"), redis_server.url, hub_setup)
    try:
        process.start()
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(hub: HubProcess) -> Callable[..., Browser]:
    """``browser("alice")``: alice logged in, her server open; ``browser("admin", "alice")``:
    the admin logged in, alice's server open."""
    browsers: dict[str, Browser] = {}
    opened: set[tuple[str, str]] = set()

    def get(user: str, server: str | None = None) -> Browser:
        owner = server or user
        if user not in browsers:
            browsers[user] = Browser(hub, user)
            browsers[user].login()
        if (user, owner) not in opened:
            hub.spawn(owner)
            browsers[user].open_server(owner)
            opened.add((user, owner))
        return browsers[user]

    return get
