"""Publishing through a running Jupyter server rather than to Redis itself: the library's
``http://`` publisher, and ``jln send`` with no URL at all (it finds the server in the Jupyter
runtime directory). Both against a real ``jupyter server`` on the embedded ``memory://`` broker
and on a real Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jln_broker.publisher import Publisher

from .clients import Client

REPO = Path(__file__).resolve().parents[2]
CLEARED_ENV = ("JLN_URL", "JLN_SECRET", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTER_TOKEN",
               "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR")


@pytest.fixture(params=["memory", "redis"])
def server(request: pytest.FixtureRequest, jupyter_process: Callable[..., Any]) -> Any:
    """A real ``jupyter server`` on the embedded broker (no ``JLN.redis_url``), or on Redis
    under a base URL such as JupyterHub gives a user's server."""
    if request.param == "redis":
        process = jupyter_process(request.getfixturevalue("redis_url"),
                                  base_url="/user/ada/")
    else:
        process = jupyter_process(None)
    process.broker = request.param
    return process


async def open_tab(ws_connect: Callable[..., Any], server: Any) -> Client:
    tab: Client = await ws_connect(server)
    await tab.hello()
    return tab


def jln_send(*args: str, runtime_dir: Path) -> subprocess.CompletedProcess[str]:
    """``jln send ...`` as a terminal in that server's notebook would run it: no URL, no token,
    only the Jupyter runtime directory."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(JUPYTER_RUNTIME_DIR=str(runtime_dir), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "jln_broker.cli", "send", *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=REPO)


def in_redis(server: Any, redis_server: Any, entry: str) -> bool:
    stream, entry_id = entry.rsplit("/", 1)
    return entry_id in redis_server.cli("XRANGE", stream, "-", "+")


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_the_library_publishes_through_the_server_url(
        server: Any, ws_connect: Callable[..., Any], redis_server: Any) -> None:
    tab = await open_tab(ws_connect, server)

    def publish() -> list[str]:
        with Publisher(server.url, token=server.token) as publisher:
            return publisher.publish("via http", type="success", title="Library")

    ids = await asyncio.to_thread(publish)
    items, _, _ = await tab.notifications(1)

    assert [(i["id"], i["message"], i["type"], i["title"]) for i in items] == [
        (ids[0], "via http", "success", "Library")]
    assert in_redis(server, redis_server, ids[0]) == (server.broker == "redis")


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_jln_send_without_a_url_finds_the_running_server(
        server: Any, ws_connect: Callable[..., Any], redis_server: Any) -> None:
    tab = await open_tab(ws_connect, server)

    done = await asyncio.to_thread(jln_send, "hi", "--type", "warning",
                                   runtime_dir=server.runtime_dir)
    items, _, _ = await tab.notifications(1)

    assert done.returncode == 0, done.stderr
    [entry] = done.stdout.split()
    assert [(i["id"], i["message"], i["type"]) for i in items] == [(entry, "hi", "warning")]
    assert in_redis(server, redis_server, entry) == (server.broker == "redis")


@pytest.mark.timeout(60)
def test_jln_send_without_a_url_or_a_server_says_so(tmp_path: Path) -> None:
    done = jln_send("hi", runtime_dir=tmp_path)

    assert done.returncode == 1
    assert "no running Jupyter server" in done.stderr
