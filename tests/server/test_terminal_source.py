"""From a terminal, with no configuration: a real Jupyter server opens a terminal through its
own terminals API; ``jln send`` typed into it (and a job started from it) notifies the server's
user, and the notifications come home with the terminal as their return address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from .clients import FRAME_TIMEOUT, Client
from .conftest import JupyterProcess

SEND_TIMEOUT = 60.0

pytestmark = pytest.mark.asyncio


def post(process: JupyterProcess, path: str, body: Any,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        process.url + path, method="POST", data=json.dumps(body).encode(),
        headers={"Authorization": f"token {process.token}", "Content-Type": "application/json",
                 **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class Terminal:
    """A terminal's socket, spoken as JupyterLab speaks terminado's protocol."""

    def __init__(self, name: str, conn: WebSocketClientConnection) -> None:
        self.name = name
        self.conn = conn
        self.output: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    async def type(self, line: str) -> None:
        await self.conn.write_message(json.dumps(["stdin", line + "\r"]))

    async def _read(self) -> None:
        while (text := await self.conn.read_message()) is not None:
            kind, *rest = json.loads(text)
            if kind == "stdout":
                self.output.append(str(rest[0]))

    def close(self) -> None:
        self._reader.cancel()
        self.conn.close()


@pytest_asyncio.fixture
async def terminal(jupyter_process: Callable[..., JupyterProcess]
                   ) -> AsyncIterator[tuple[JupyterProcess, Terminal]]:
    """A real server (embedded broker) and a terminal opened through ``POST /api/terminals``,
    as JupyterLab opens one."""
    process = jupyter_process(None)
    _, model = await asyncio.to_thread(post, process, "api/terminals", {})
    url = (f"ws://127.0.0.1:{process.port}{process.base_url}terminals/websocket/"
           f"{model['name']}")
    conn = await websocket_connect(HTTPRequest(
        url, headers={"Authorization": f"token {process.token}"},
        connect_timeout=FRAME_TIMEOUT, request_timeout=FRAME_TIMEOUT))
    term = Terminal(model["name"], conn)
    try:
        yield process, term
    finally:
        term.close()
        with contextlib.suppress(OSError):
            request = urllib.request.Request(
                f"{process.url}api/terminals/{term.name}", method="DELETE",
                headers={"Authorization": f"token {process.token}"})
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=SEND_TIMEOUT)


async def test_jln_send_in_a_terminal_and_its_jobs_come_home_with_the_terminal(
        terminal: tuple[JupyterProcess, Terminal], ws_connect: Callable[..., Any]) -> None:
    process, term = terminal
    inbox: Client = await ws_connect(process)
    hello = await inbox.hello()

    await term.type(f"export PATH={os.path.dirname(sys.executable)}:$PATH")  # where jln is
    await term.type("jln send 'backup done' && sh -c \"jln send -t success 'job done'\"")

    try:
        items, _, _ = await inbox.notifications(2, timeout=SEND_TIMEOUT)
    except (AssertionError, TimeoutError):
        pytest.fail(f"terminal said: {''.join(term.output)!r}")
    assert [n["message"] for n in items] == ["backup done", "job done"]
    for item in items:
        assert item["source"] == {"kind": "terminal", "name": term.name}
        assert item["stream"] == f"jln:user:{hello['user']}"  # the owner, named by nobody


async def test_pids_of_no_terminal_give_no_source_and_a_given_source_stays(
        terminal: tuple[JupyterProcess, Terminal], ws_connect: Callable[..., Any]) -> None:
    process, term = terminal
    inbox: Client = await ws_connect(process)
    await inbox.hello()
    path = process.root_dir / "shell.pid"
    await term.type(f"echo $$ > {path}")
    for _ in range(100):
        if path.exists() and path.read_text().strip():
            break
        await asyncio.sleep(0.1)
    shell = path.read_text().strip()
    notebook = {"kind": "notebook", "path": "work/a.ipynb"}

    status, _ = await asyncio.to_thread(post, process, "jln/api/notifications",
                                        {"message": "elsewhere"},
                                        {"X-JLN-Ancestry": f"{os.getpid()},1"})
    assert status == 201
    status, _ = await asyncio.to_thread(post, process, "jln/api/notifications",
                                        {"message": "from a notebook", "source": notebook},
                                        {"X-JLN-Ancestry": shell})
    assert status == 201
    status, refused = await asyncio.to_thread(post, process, "jln/api/notifications",
                                              {"message": "x"}, {"X-JLN-Ancestry": "12 13"})
    assert (status, refused["field"]) == (400, "X-JLN-Ancestry")

    items, _, _ = await inbox.notifications(2, timeout=SEND_TIMEOUT)
    assert "source" not in items[0]
    assert items[1]["source"] == notebook
