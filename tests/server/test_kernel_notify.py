"""From a kernel, with no configuration: a real Jupyter server starts a kernel for a notebook
through its own sessions API; code run in it (as JupyterLab sends it, with the cell's id)
notifies the server's user, and the notifications come home with their return address."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from .clients import FRAME_TIMEOUT, Client
from .conftest import JupyterProcess

KERNEL_TIMEOUT = 60.0

pytestmark = pytest.mark.asyncio


def api(process: JupyterProcess, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        process.url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {process.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=KERNEL_TIMEOUT) as response:
        return json.loads(response.read() or b"null")


class Kernel:
    """A kernel's channels over the server's WebSocket, as JupyterLab talks to it."""

    def __init__(self, conn: WebSocketClientConnection, session: str) -> None:
        self.conn = conn
        self.session = session

    async def execute(self, code: str, cell_id: str) -> dict[str, Any]:
        """Run ``code`` as the cell ``cell_id``; the execute_reply's content."""
        msg_id = uuid.uuid4().hex
        await self.conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": self.session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {"cellId": cell_id}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
            "buffers": []}))
        while True:
            text = await asyncio.wait_for(self.conn.read_message(), KERNEL_TIMEOUT)
            assert text is not None, "the kernel's socket closed"
            msg = json.loads(text)
            if (msg.get("msg_type") == "execute_reply"
                    and msg["parent_header"].get("msg_id") == msg_id):
                return dict(msg["content"])


@pytest_asyncio.fixture
async def notebook_kernel(jupyter_process: Callable[..., JupyterProcess]
                          ) -> AsyncIterator[tuple[JupyterProcess, Kernel]]:
    """A real server (embedded broker) and a kernel for ``work/train.ipynb``, started through
    ``POST /api/sessions`` as JupyterLab does when it opens that notebook."""
    process = jupyter_process(None)
    (process.root_dir / "work").mkdir()
    (process.root_dir / "work" / "train.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    session = await asyncio.to_thread(api, process, "POST", "api/sessions", {
        "path": "work/train.ipynb", "name": "train.ipynb", "type": "notebook",
        "kernel": {"name": "python3"}})
    kernel_id = session["kernel"]["id"]
    url = (f"ws://127.0.0.1:{process.port}{process.base_url}api/kernels/{kernel_id}/channels"
           f"?session_id={session['id']}")
    conn = await websocket_connect(HTTPRequest(
        url, headers={"Authorization": f"token {process.token}"},
        connect_timeout=FRAME_TIMEOUT, request_timeout=FRAME_TIMEOUT))
    try:
        yield process, Kernel(conn, session["id"])
    finally:
        conn.close()
        await asyncio.to_thread(api, process, "DELETE", f"api/sessions/{session['id']}")


async def test_notify_and_a_failing_notify_cell_come_home_with_their_notebook_and_cell(
        notebook_kernel: tuple[JupyterProcess, Kernel],
        ws_connect: Callable[..., Any]) -> None:
    process, kernel = notebook_kernel
    inbox: Client = await ws_connect(process)
    hello = await inbox.hello()

    done = await kernel.execute(
        'from jln_broker import notify\nnotify("training done", type="success")', "cell-a1")
    assert done["status"] == "ok", done
    await kernel.execute("%load_ext jln_broker", "cell-b2")
    failed = await kernel.execute("%%notify --title Training\nx = 1\n1 / 0\n", "cell-c3")
    assert failed["status"] == "error" and failed["ename"] == "ZeroDivisionError"

    items, _, _ = await inbox.notifications(2, timeout=KERNEL_TIMEOUT)
    success, error = items
    assert (success["message"], success["type"]) == ("training done", "success")
    assert success["source"] == {"kind": "notebook", "path": "work/train.ipynb",
                                 "cellId": "cell-a1"}
    assert success["stream"] == f"jln:user:{hello['user']}"  # the owner, named by nobody
    assert error["type"] == "error" and error["title"] == "Training"
    assert error["message"].startswith("ZeroDivisionError: division by zero\nline 2: 1 / 0")
    assert error["source"] == {"kind": "notebook", "path": "work/train.ipynb",
                               "cellId": "cell-c3"}


async def test_a_kernel_is_given_the_url_and_an_owner_token_but_not_the_server_token(
        notebook_kernel: tuple[JupyterProcess, Kernel]) -> None:
    process, kernel = notebook_kernel
    reply = await kernel.execute(
        "import os\n"
        f"assert os.environ['JLN_SERVER_URL'] == {process.url!r}\n"
        "assert os.environ['JLN_SERVER_TOKEN'].startswith('jln-owner-')\n"
        f"assert {process.token!r} not in os.environ['JLN_SERVER_TOKEN']\n",
        "cell-env")
    assert reply["status"] == "ok", reply


