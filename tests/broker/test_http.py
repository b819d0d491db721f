"""Publishing and following through a Jupyter server, and finding that server, against a small
stand-in: a stdlib HTTP server on 127.0.0.1 that records what it is asked and answers as told.
(The real Jupyter server is tested with jln_server.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from jln_broker import discovery
from jln_broker.errors import (
    BrokerUnavailable,
    NotFound,
    PublishRejected,
    TooLarge,
    ValidationError,
)
from jln_broker.http import SECRET_ENV, TOKEN_ENV, HttpTransport
from jln_broker.model import Action, Notification
from jln_broker.publisher import AsyncPublisher, Publisher

REPO = Path(__file__).resolve().parents[2]
NOTIFICATION = Notification("Deploy done", type="success", users=("ada",),
                            actions=(Action("Open", link="https://ci.example/7"),))


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message  # case-insensitive, as HTTP headers are
    body: Any


@dataclass
class FakeJupyter:
    """Answers from ``replies`` in order, then 201 with one id to a POST and 200 to a GET."""

    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    replies: deque[tuple[int, Any]] = field(default_factory=deque)

    def answer(self, method: str) -> tuple[int, Any]:
        if self.replies:
            return self.replies.popleft()
        if method == "POST":
            return 201, {"ids": ["jln:user:ada/1700000000000-0"]}
        return 200, {"status": "ok"}


def _handler(fake: FakeJupyter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            fake.requests.append(Seen(self.command, parts.path, parse_qs(parts.query),
                                      self.headers, json.loads(raw) if raw else None))
            status, body = fake.answer(self.command)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            """Quiet: pytest shows what matters."""

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeJupyter]:
    fake = FakeJupyter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*TOKEN_ENV, SECRET_ENV, "JLN_URL"):
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- HttpTransport ----------------------------------------------------------------------------

@pytest.mark.parametrize("base", ["user/ada", "user/ada/", "user/ada/lab?token=t"])
def test_post_sends_the_wire_form_to_the_servers_base(fake: FakeJupyter, base: str) -> None:
    ids = HttpTransport(fake.url + base, None, retry_for=1).post(NOTIFICATION)

    assert ids == ["jln:user:ada/1700000000000-0"]
    [seen] = fake.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/user/ada/jln/api/notifications", {})
    assert seen.body == NOTIFICATION.to_dict(audience=True)
    assert seen.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("query", "argument", "env", "sent"), [
    ("?token=in-url", "given", TOKEN_ENV, "in-url"),
    ("", "given", TOKEN_ENV, "given"),
    ("", None, TOKEN_ENV, "JUPYTERHUB_API_TOKEN"),
    ("", None, ("JPY_API_TOKEN", "JUPYTER_TOKEN"), "JPY_API_TOKEN"),
    ("", None, ("JUPYTER_TOKEN",), "JUPYTER_TOKEN"),
])
def test_token_is_found_in_order(fake: FakeJupyter, monkeypatch: pytest.MonkeyPatch, query: str,
                                 argument: str | None, env: tuple[str, ...], sent: str) -> None:
    for name in env:
        monkeypatch.setenv(name, name)

    HttpTransport(fake.url + query, argument, retry_for=1).post(NOTIFICATION)

    assert fake.requests[0].headers["Authorization"] == f"token {sent}"


def test_no_token_sends_no_authorization(fake: FakeJupyter) -> None:
    HttpTransport(fake.url, None, retry_for=1).post(NOTIFICATION)

    assert "Authorization" not in fake.requests[0].headers
    assert "X-JLN-Secret" not in fake.requests[0].headers


def test_publisher_secret_comes_from_the_argument_else_the_environment(
        fake: FakeJupyter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "from-env")
    with Publisher(fake.url, secret="given") as publisher:
        publisher.publish("one")
    HttpTransport(fake.url, None, retry_for=1).post(NOTIFICATION)

    assert [r.headers["X-JLN-Secret"] for r in fake.requests] == ["given", "from-env"]


@pytest.mark.parametrize(("status", "body", "error", "field"), [
    (400, {"error": "must not be empty", "field": "actions[0].label"}, ValidationError,
     "actions[0].label"),
    (400, {"error": "body is not JSON", "field": None}, ValidationError, "notification"),
    (413, {"error": "is 20000 characters; the limit is 10000", "field": "message"}, TooLarge,
     "message"),
])
def test_invalid_answers_raise_validation_errors_naming_the_field(
        fake: FakeJupyter, status: int, body: Any, error: type[ValidationError],
        field: str) -> None:
    fake.replies.append((status, body))

    with pytest.raises(error) as raised:
        HttpTransport(fake.url, None, retry_for=1).post(NOTIFICATION)

    assert type(raised.value) is error
    assert (raised.value.field, raised.value.problem) == (field, body["error"])


@pytest.mark.parametrize("status", [401, 403, 404, 429])
def test_refusals_raise_publish_rejected(fake: FakeJupyter, status: int) -> None:
    fake.replies.append((status, {"error": "publishing needs the publisher secret",
                                  "field": None}))

    with pytest.raises(PublishRejected) as raised:
        HttpTransport(fake.url, None, retry_for=1).post(NOTIFICATION)

    assert (raised.value.status, raised.value.reason) == (
        status, "publishing needs the publisher secret")
    assert len(fake.requests) == 1


def test_unavailable_server_is_retried_until_it_answers(fake: FakeJupyter) -> None:
    fake.replies.extend([(503, {"error": "starting"}), (502, None)])

    ids = HttpTransport(fake.url, None, retry_for=5).post(NOTIFICATION)

    assert ids == ["jln:user:ada/1700000000000-0"]
    assert len(fake.requests) == 3


def test_unreachable_server_raises_broker_unavailable_after_retry_for() -> None:
    url = f"http://127.0.0.1:{free_port()}/user/ada/?token=s3cret"
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable) as raised:
        HttpTransport(url, None, retry_for=0.3).post(NOTIFICATION)

    assert 0.3 <= time.monotonic() - started < 5
    assert "/user/ada/jln/api/notifications" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_an_answer_without_ids_is_rejected(fake: FakeJupyter) -> None:
    fake.replies.append((200, {"hello": "world"}))

    with pytest.raises(PublishRejected, match="no ids"):
        HttpTransport(fake.url, None, retry_for=1).post(NOTIFICATION)


# --- discovery --------------------------------------------------------------------------------

@pytest.mark.skipif(sys.platform != "linux", reason="the Linux rules")
@pytest.mark.parametrize(("env", "expected"), [
    ({"JUPYTER_RUNTIME_DIR": "/r", "JUPYTER_DATA_DIR": "/d", "XDG_DATA_HOME": "/x"}, "/r"),
    ({"JUPYTER_DATA_DIR": "/d", "XDG_DATA_HOME": "/x"}, "/d/runtime"),
    ({"XDG_DATA_HOME": "/x"}, "/x/jupyter/runtime"),
    ({"HOME": "/home/ada"}, "/home/ada/.local/share/jupyter/runtime"),
])
def test_runtime_dir_follows_jupyters_rules(monkeypatch: pytest.MonkeyPatch,
                                            env: dict[str, str], expected: str) -> None:
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert discovery.runtime_dir() == Path(expected)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def server_file(directory: Path, pid: int, url: str, token: str, age: float) -> None:
    """A runtime file as jupyter_server writes it, ``age`` seconds old."""
    path = directory / f"jpserver-{pid}.json"
    path.write_text(json.dumps({"url": url, "base_url": urlsplit(url).path, "token": token,
                                "pid": pid, "root_dir": "/", "secure": False}))
    mtime = time.time() - age
    os.utime(path, (mtime, mtime))


def test_find_server_takes_the_newest_live_one_with_jln(fake: FakeJupyter, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    server_file(tmp_path, dead_pid(), fake.url + "dead/", "t-dead", age=0)
    server_file(tmp_path, os.getpid(), fake.url + "without-jln/", "t-other", age=10)
    server_file(tmp_path, os.getppid(), fake.url + "user/ada/", "t-ada", age=20)
    server_file(tmp_path, 1, f"http://127.0.0.1:{free_port()}/", "t-gone", age=5)
    fake.replies.append((404, {"message": "Not Found"}))

    assert discovery.find_server() == (fake.url + "user/ada/", "t-ada")
    assert [(r.path, r.headers["Authorization"]) for r in fake.requests] == [
        ("/without-jln/jln/api/status", "token t-other"),
        ("/user/ada/jln/api/status", "token t-ada")]


def test_find_server_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    server_file(tmp_path, dead_pid(), "http://127.0.0.1:1/", "t", age=0)
    (tmp_path / "jpserver-2.json").write_text("{half a file")

    with pytest.raises(BrokerUnavailable) as raised:
        discovery.find_server()

    assert str(raised.value) == (
        f"no running Jupyter server with jln_server found on this machine (looked in "
        f"{tmp_path}); start one with `jupyter lab`, or give a broker URL (--url, $JLN_URL, "
        f"or the publisher's url)")


# --- the CLI through a Jupyter server ---------------------------------------------------------

def jln(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cleared = (*TOKEN_ENV, SECRET_ENV, "JLN_URL", "JUPYTER_RUNTIME_DIR")
    base = {k: v for k, v in os.environ.items() if k not in cleared}
    return subprocess.run([sys.executable, "-m", "jln_broker.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO,
                          env={**base, "PYTHONPATH": str(REPO), **env})


def test_send_finds_the_running_server_and_uses_its_token(fake: FakeJupyter,
                                                          tmp_path: Path) -> None:
    server_file(tmp_path, os.getpid(), fake.url, "t-found", age=0)

    done = jln("send", "-m", "hi", "--secret", "pssst", JUPYTER_RUNTIME_DIR=str(tmp_path))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "jln:user:ada/1700000000000-0\n"
    status, post = fake.requests
    assert (status.path, post.path) == ("/jln/api/status", "/jln/api/notifications")
    assert post.headers["Authorization"] == "token t-found"
    assert post.headers["X-JLN-Secret"] == "pssst"
    assert post.body == {"message": "hi", "type": "info", "autoClose": 5000, "users": [],
                         "groups": []}


def test_send_reports_a_refusal_with_exit_1(fake: FakeJupyter) -> None:
    fake.replies.append((403, {"error": "publishing is not allowed for this user",
                               "field": None}))

    done = jln("send", "hi", "--url", fake.url)

    assert done.returncode == 1
    assert done.stderr == "jln: error: HTTP 403: publishing is not allowed for this user\n"


def test_send_reports_what_the_server_found_invalid_with_exit_2(fake: FakeJupyter) -> None:
    fake.replies.append((413, {"error": "is too long", "field": "message"}))

    done = jln("send", "hi", "--url", fake.url)

    assert done.returncode == 2
    assert done.stderr == "jln: error: message: is too long\n"


def test_tail_polls_the_feed_from_the_cursor_it_was_given(fake: FakeJupyter) -> None:
    def record(n: int) -> dict[str, Any]:
        return {"id": f"jln:broadcast/{n}-0", "stream": "jln:broadcast", "createdAt": n,
                "message": f"m{n}", "type": "info", "autoClose": 5000}

    fake.replies.extend([
        (200, {"notifications": [record(1)], "cursor": "c1"}),  # the newest: not printed
        (200, {"notifications": [], "cursor": "c1"}),
        (200, {"notifications": [record(2)], "cursor": "c2", "more": True}),
        (200, {"notifications": [record(3)], "cursor": "c3"}),
    ])

    done = jln("tail", "--url", fake.url + "?token=t", "--count", "2")

    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["message"] for line in done.stdout.splitlines()] == ["m2", "m3"]
    assert [r.query.get("since") for r in fake.requests] == [None, ["c1"], ["c1"], ["c2"]]
    assert {r.headers["Authorization"] for r in fake.requests} == {"token t"}


def test_tail_through_a_server_takes_no_audience(fake: FakeJupyter) -> None:
    done = jln("tail", "--url", fake.url, "--user", "ada")

    assert done.returncode == 2
    assert done.stderr.startswith("jln: error: --user: a Jupyter server reads for the user")
    assert fake.requests == []


# --- Publisher through a server: idempotency keys, receipts, no URL ---------------------------

def test_publish_sends_the_callers_idempotency_key_as_a_header(fake: FakeJupyter) -> None:
    with Publisher(fake.url) as publisher:
        publisher.publish("deploy done", idempotency_key="deploy-42")
        publisher.publish_many([{"message": "a"}, {"message": "b"}], idempotency_key="night-7")
        publisher.publish_many([{"message": "c"}, {"message": "d"}], idempotency_key="k" * 199)

    keys = [r.headers["Idempotency-Key"] for r in fake.requests]
    assert keys[:3] == ["deploy-42", "night-7/0", "night-7/1"]
    assert keys[3].endswith("/0") and keys[4].endswith("/1")  # each fits the 200 characters
    assert keys[3][:-2] == keys[4][:-2] and len(keys[3]) <= 200


def test_a_retry_through_the_server_carries_the_same_key(fake: FakeJupyter) -> None:
    fake.replies.append((503, {"error": "Redis unreachable", "field": None}))

    with Publisher(fake.url, retry_for=5) as publisher:
        ids = publisher.publish("once, even if an answer is lost")
        publisher.publish("another")

    assert ids == ["jln:user:ada/1700000000000-0"]
    first, retry, another = (r.headers["Idempotency-Key"] for r in fake.requests)
    assert first == retry and first.startswith("auto-")
    assert another != first


@pytest.mark.asyncio
async def test_async_publish_through_a_server_sends_the_key(fake: FakeJupyter) -> None:
    async with AsyncPublisher(fake.url) as publisher:
        ids = await publisher.publish("deploy done", idempotency_key="deploy-42")

    assert ids == ["jln:user:ada/1700000000000-0"]
    assert fake.requests[0].headers["Idempotency-Key"] == "deploy-42"


def receipts_answer(notification_id: str, unread: list[str]) -> dict[str, Any]:
    return {"id": notification_id, "read": [{"user": "ada", "readAt": 1700000000123}],
            "unread": [{"user": user} for user in unread]}


def test_wait_read_through_a_server_asks_its_receipts_endpoint(fake: FakeJupyter) -> None:
    notification_id = "jln:group:ml/1700000000000-0"
    fake.replies.extend([(200, receipts_answer(notification_id, ["bob"])),
                         (200, receipts_answer(notification_id, []))])

    with Publisher(fake.url + "user/ada/?token=t") as publisher:
        receipts = publisher.wait_read([notification_id], timeout=10)

    assert receipts[notification_id].read == [("ada", 1700000000123)]
    assert receipts[notification_id].everyone_read
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/user/ada/jln/api/notifications/jln%3Agroup%3Aml%2F1700000000000-0/receipts")] * 2
    assert fake.requests[0].headers["Authorization"] == "token t"


@pytest.mark.asyncio
async def test_async_wait_read_through_a_server_stops_at_the_timeout(fake: FakeJupyter) -> None:
    notification_id = "jln:broadcast/1-0"
    fake.replies.extend([(200, receipts_answer(notification_id, ["bob"]))] * 20)
    started = time.monotonic()

    async with AsyncPublisher(fake.url) as publisher:
        receipts = await publisher.wait_read([notification_id], timeout=0.5)

    assert 0.5 <= time.monotonic() - started < 3
    assert receipts[notification_id].unread == ["bob"]
    assert 2 <= len(fake.requests) <= 4  # every 0.25 s


def test_receipts_of_an_unknown_id_through_a_server_are_not_found(fake: FakeJupyter) -> None:
    fake.replies.append((404, {"error": "id: not a notification the streams hold",
                               "field": "id"}))

    with Publisher(fake.url) as publisher, pytest.raises(NotFound) as missing:
        publisher.wait_read(["jln:broadcast/1-0"], timeout=5)

    assert missing.value.field == "id"
    assert len(fake.requests) == 1


def test_publisher_without_a_url_publishes_through_the_running_server(
        fake: FakeJupyter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    server_file(tmp_path, os.getpid(), fake.url + "user/ada/", "t-found", age=0)

    with Publisher() as publisher:
        ids = publisher.publish("found it")

    assert ids == ["jln:user:ada/1700000000000-0"]
    status, post = fake.requests
    assert (status.path, post.path) == ("/user/ada/jln/api/status",
                                        "/user/ada/jln/api/notifications")
    assert post.headers["Authorization"] == "token t-found"


def test_jln_url_comes_before_the_running_server(
        fake: FakeJupyter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    server_file(tmp_path, os.getpid(), fake.url + "user/other/", "t-other", age=0)
    monkeypatch.setenv("JLN_URL", fake.url + "user/ada/?token=t-env")

    with Publisher() as publisher:
        publisher.publish("through $JLN_URL")

    [post] = fake.requests
    assert (post.path, post.headers["Authorization"]) == ("/user/ada/jln/api/notifications",
                                                          "token t-env")
