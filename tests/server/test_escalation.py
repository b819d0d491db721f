"""Escalation through Apprise, on the in-process server: Apprise's ``json://`` target posts to
a local HTTP receiver. An unread error escalates once after the delay while no tab is visible;
read first, or with a tab visible, it does not."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .clients import InProcess
from .test_embedded_restart import call

DELAY = 0.5
pytestmark = [pytest.mark.asyncio, pytest.mark.jln(user="ada", escalation_delay=DELAY)]


class Receiver(ThreadingHTTPServer):
    """Keeps the JSON body of every POST."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/escalated"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def jln_config(jln_config: dict[str, Any], receiver: Receiver) -> dict[str, Any]:
    return {**jln_config, "escalation_urls": [receiver.url]}


async def send_error(server: InProcess, message: str) -> str:
    code, answer = await call(server, "POST", "notifications",
                              {"message": message, "type": "error", "title": "Training",
                               "users": ["ada"]})
    assert code == 201, answer
    return str(answer["ids"][0])


async def presence(server: InProcess, visible: bool) -> None:
    code, answer = await call(server, "POST", "presence", {"tab": "tab-1", "visible": visible})
    assert code == 200, answer


async def test_an_unread_error_escalates_once_after_the_delay(server: InProcess,
                                                              receiver: Receiver) -> None:
    notification_id = await send_error(server, "loss is NaN")
    await asyncio.sleep(DELAY / 2)
    assert receiver.bodies == []  # not before the delay
    for _ in range(50):
        if receiver.bodies:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(DELAY * 3)  # and never again
    [sent] = receiver.bodies
    assert sent["title"] == "Training" and sent["type"] == "failure"
    assert "loss is NaN" in sent["message"]
    assert f"lab?jln-notification={notification_id.replace(':', '%3A').replace('/', '%2F')}" \
        in sent["message"]


async def test_reading_it_first_cancels_the_escalation(server: InProcess,
                                                       receiver: Receiver) -> None:
    notification_id = await send_error(server, "disk full")
    code, answer = await call(server, "POST", "notifications/state",
                              {"ids": [notification_id], "read": True})
    assert code == 200, answer
    await asyncio.sleep(DELAY * 4)
    assert receiver.bodies == []


async def test_a_visible_tab_holds_it_until_hidden_for_the_delay(server: InProcess,
                                                                 receiver: Receiver) -> None:
    await presence(server, True)
    await send_error(server, "job failed")
    await asyncio.sleep(DELAY * 3)
    assert receiver.bodies == []
    await presence(server, False)
    for _ in range(50):
        if receiver.bodies:
            break
        await asyncio.sleep(0.1)
    assert len(receiver.bodies) == 1


async def test_presence_refuses_a_bad_body_naming_the_field(server: InProcess) -> None:
    code, answer = await call(server, "POST", "presence", {"tab": "t", "visible": "yes"})
    assert (code, answer["field"]) == (400, "visible")
