"""``jln send`` and ``jln tail`` end to end: the real command in a subprocess, a real redis-server,
and the entries checked the way a reader would decode them."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from jln_broker.model import Action, Notification
from jln_broker.protocol import Cursor, decode_entry

REPO = Path(__file__).resolve().parents[2]
CLEARED_ENV = ("JLN_URL", "JLN_SECRET", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTER_TOKEN",
               "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "jln_broker.cli", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would point ``jln`` somewhere else."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def jln(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=clean_env(**env))


def stored(url: str, stream: str) -> list[tuple[str, Notification]]:
    """What the stream holds, decoded as the server's reader decodes it."""
    with redis.Redis.from_url(url) as client:
        return [(raw_id.decode(), decode_entry(fields)) for raw_id, fields in client.xrange(stream)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_send_maps_every_flag_to_its_field(redis_url: str) -> None:
    done = jln("send", "Training done", "--url", redis_url, "--type", "success",
               "--auto-close", "0", "--title", "Run 42", "--action", "Open,See the run,accent",
               "--action", "Later", "--link", "https://ci.example/42", "--key", "run-42",
               "--user", "ada", "--group", "ml", "--origin", "ci@build-7", "--topic", "training",
               "--expires-at", "2100-01-01T00:00:00Z", "--data", '{"run": 42}')

    assert done.returncode == 0, done.stderr
    expected = Notification(
        message="Training done", type="success", auto_close=0, title="Run 42",
        origin="ci@build-7", topic="training", link="https://ci.example/42", key="run-42",
        expires_at=4102444800000, data={"run": 42},
        actions=(Action("Open", "See the run", "accent"), Action("Later")))
    ada, ml = stored(redis_url, "jln:user:ada"), stored(redis_url, "jln:group:ml")
    assert [n for _, n in ada] == [n for _, n in ml] == [expected]
    assert done.stdout.splitlines() == [f"jln:user:ada/{ada[0][0]}", f"jln:group:ml/{ml[0][0]}"]


def test_send_keeps_the_flags_of_the_replaced_extension(redis_url: str) -> None:
    done = jln("send", "-m", "Help available", "-t", "warning", "--no-auto-close",
               "--action", "Open help", "--cmd", "iframe:open",
               "--command-args", '{"path": "local:///welcome.html"}', "--data", '{"k": "v"}',
               "--url", redis_url)

    assert done.returncode == 0, done.stderr
    [(_, notification)] = stored(redis_url, "jln:broadcast")
    assert notification == Notification(
        message="Help available", type="warning", auto_close=False, data={"k": "v"},
        actions=(Action("Open help", command_id="iframe:open",
                        args={"path": "local:///welcome.html"}),))


def test_cmd_goes_on_the_last_action(redis_url: str) -> None:
    done = jln("send", "Pick one", "--action", "Dismiss", "--action", "Open",
               "--cmd", "docmanager:open", "--url", redis_url)

    assert done.returncode == 0, done.stderr
    [(_, notification)] = stored(redis_url, "jln:broadcast")
    assert notification.actions == (Action("Dismiss"),
                                     Action("Open", command_id="docmanager:open"))


def test_cmd_without_action_makes_a_button_named_after_it(redis_url: str) -> None:
    done = jln("send", "-m", "New release", "--cmd", "help:about", "--url", redis_url)

    assert done.returncode == 0, done.stderr
    [(_, notification)] = stored(redis_url, "jln:broadcast")
    assert notification.actions == (Action("help:about", command_id="help:about"),)


def test_json_prints_the_ids_as_an_object(redis_url: str) -> None:
    done = jln("send", "hello", "--user", "ada", "--user", "bob", "--json", "--url", redis_url)

    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)["ids"]
    assert [i.split("/")[0] for i in ids] == ["jln:user:ada", "jln:user:bob"]


def test_url_comes_from_jln_url(redis_url: str) -> None:
    done = jln("send", "from the environment", JLN_URL=redis_url)

    assert done.returncode == 0, done.stderr
    assert [n.message for _, n in stored(redis_url, "jln:broadcast")] == ["from the environment"]


@pytest.mark.parametrize(("args", "field"), [
    ([], "message"),
    (["one", "-m", "two"], "message"),
    (["hi", "-t", "loud"], "type"),
    (["hi", "--data", "{nope"], "data"),
    (["hi", "--data", "[1, 2]"], "data"),
    (["hi", "--link", "ftp://example.org/file"], "link"),
    (["hi", "--action", "Go,Run it,shiny"], "actions[0].displayType"),
    (["hi", "--action", "a,b,c,d"], "actions[0]"),
    (["hi", "--command-args", "{}"], "--command-args"),
    (["hi", "--cmd", "run", "--command-args", "[]"], "actions[0].args"),
    (["hi", "--cmd", "not a command"], "actions[0].commandId"),
    (["hi", "--expires-at", "tomorrow"], "expiresAt"),
    (["hi", "--expires-at", "\u00b2"], "expiresAt"),  # isdigit() but not int()
    (["hi", "--user", "ada lovelace"], "users[0]"),
    (["x" * 10_001], "message"),
])
def test_invalid_input_exits_2_naming_the_field(redis_url: str, args: list[str],
                                                field: str) -> None:
    done = jln("send", *args, "--url", redis_url)

    assert done.returncode == 2
    assert done.stderr.startswith(f"jln: error: {field}: ")
    assert "Traceback" not in done.stderr
    assert redis.Redis.from_url(redis_url).dbsize() == 0


def test_usage_errors_exit_2() -> None:
    assert jln("send", "hi", "--auto-close", "soon").returncode == 2
    assert jln("send", "hi", "--auto-close", "5", "--no-auto-close").returncode == 2
    assert jln().returncode == 2


def test_unreachable_broker_exits_1_with_a_message() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    done = jln("send", "anyone there?", "--url", url, "--retry-for", "0.3")

    assert done.returncode == 1
    assert done.stderr.startswith("jln: error: broker unreachable")
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr
    assert time.monotonic() - started < 15


def test_no_url_and_no_server_exits_1_saying_what_to_do(tmp_path: Path) -> None:
    done = jln("send", "hi", JUPYTER_RUNTIME_DIR=str(tmp_path))

    assert done.returncode == 1
    assert "no running Jupyter server with jln_server" in done.stderr
    assert str(tmp_path) in done.stderr


def start_tail(*args: str) -> subprocess.Popen[str]:
    """``jln tail`` in the background, returned once it has fixed its starting position."""
    tail = subprocess.Popen(command("tail", *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=clean_env())
    assert tail.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([tail.stderr], [], [], deadline - time.monotonic())
        line = tail.stderr.readline() if ready else ""
        if line.startswith("jln: following"):
            return tail
        if not line and tail.poll() is not None:
            break
    tail.kill()
    pytest.fail(f"jln tail did not start: {tail.communicate()}")


def test_tail_prints_what_redis_cli_publishes_to_its_audience(redis_url: str,
                                                              redis_server: Any) -> None:
    tail = start_tail("--url", redis_url, "--user", "ada", "--count", "2", "--format", "json")
    cli = redis_server.cli
    cli("XADD", "jln:user:bob", "*", "message", "Not for Ada")
    cli("XADD", "jln:broadcast", "*", "message", "Deploy done", "type", "success")
    cli("XADD", "jln:user:ada", "*", "message", "Your run finished", "autoClose", "false")

    out, err = tail.communicate(timeout=30)

    assert tail.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["stream"], r["message"]) for r in records] == [
        ("jln:broadcast", "Deploy done"), ("jln:user:ada", "Your run finished")]
    assert records[0]["type"] == "success"
    assert records[1]["autoClose"] is False
    assert records[0]["id"] == f"jln:broadcast/{records[0]['createdAt']}-0"


def test_tail_from_start_prints_readable_text(redis_url: str) -> None:
    assert jln("send", "Deploy done", "-t", "success", "--url", redis_url).returncode == 0

    done = jln("tail", "--url", redis_url, "--from-start", "--count", "1", "--format", "text")

    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] success +Deploy done  \(jln:broadcast/\d+-\d+\)\n",
                        done.stdout)


def test_tail_resumes_after_a_cursor(redis_url: str) -> None:
    for message in ("first", "second"):
        assert jln("send", message, "--url", redis_url).returncode == 0
    [(first_id, _), _] = stored(redis_url, "jln:broadcast")
    cursor = Cursor({"jln:broadcast": first_id}).encode()
    done = jln("tail", "--url", redis_url, "--cursor", cursor, "--count", "1")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["message"] == "second"


def test_tail_rejects_a_cursor_it_cannot_read(redis_url: str) -> None:
    done = jln("tail", "--url", redis_url, "--cursor", "not-a-cursor")

    assert done.returncode == 2
    assert done.stderr.startswith("jln: error: cursor: ")


def test_ctrl_c_stops_tail_quietly(redis_url: str) -> None:
    tail = start_tail("--url", redis_url)

    tail.send_signal(signal.SIGINT)
    out, err = tail.communicate(timeout=20)

    assert tail.returncode == 0
    assert out == ""
    assert "Traceback" not in err


def test_send_schedules_excludes_and_is_idempotent_by_key(redis_url: str) -> None:
    args = ("send", "ml news", "--url", redis_url, "--group", "ml", "--exclude-user", "ada",
            "--exclude-user", "bob", "--not-before", "2100-01-01T00:00:00Z",
            "--idempotency-key", "news-7")

    first, again = jln(*args), jln(*args)

    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout  # the first send's ids, nothing written twice
    [(_, notification)] = stored(redis_url, "jln:group:ml")
    assert notification.exclude_users == ("ada", "bob")
    assert notification.not_before == 4102444800000


def test_send_wait_read_returns_once_the_target_has_read_it(redis_url: str) -> None:
    process = subprocess.Popen(
        command("send", "your job is done", "--url", redis_url, "--user", "ada",
                "--wait-read", "2s"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=clean_env())
    read_at: list[int] = []

    def ada_reads_it() -> None:  # what her Jupyter server does when she opens it
        assert process.stdout is not None
        notification_id = process.stdout.readline().strip()  # printed before it waits
        time.sleep(0.5)
        read_at.append(int(time.time() * 1000))
        with redis.Redis.from_url(redis_url) as client:
            client.hset("jln:inbox:ada:read", notification_id, read_at[0])

    reader = threading.Thread(target=ada_reads_it)
    reader.start()
    status = process.wait(timeout=30)
    exited_at = time.time() * 1000
    reader.join()

    assert status == 0, process.stderr.read() if process.stderr else ""  # 3 had it timed out
    assert read_at[0] <= exited_at  # it waited for her


def test_send_wait_read_exits_3_naming_who_has_not_read_it(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.sadd("jln:readers:group:ml", "ada", "bob")
    done = jln("send", "ml news", "--url", redis_url, "--group", "ml", "--wait-read", "1s")
    [notification_id] = done.stdout.split()
    with redis.Redis.from_url(redis_url) as client:
        client.hset("jln:inbox:ada:read", notification_id, 1)
    late = jln("send", "ml news 2", "--url", redis_url, "--group", "ml", "--wait-read", "0.5")

    assert done.returncode == late.returncode == 3
    assert done.stderr.strip().endswith("not read after 1s by: ada, bob")
    assert "by: ada, bob" in late.stderr


def test_send_wait_read_with_no_one_targeted_yet_says_so_and_exits_0(redis_url: str) -> None:
    done = jln("send", "to a new group", "--url", redis_url, "--group", "new",
               "--wait-read", "1m")

    assert done.returncode == 0, done.stderr
    assert "no one is targeted yet" in done.stderr


@pytest.mark.parametrize("duration", ["soon", "5 min", "-1", "1d"])
def test_send_refuses_a_bad_wait_read_duration_before_sending(redis_url: str,
                                                              duration: str) -> None:
    done = jln("send", "x", "--url", redis_url, "--wait-read", duration)

    assert done.returncode == 2
    assert "--wait-read" in done.stderr
    assert stored(redis_url, "jln:broadcast") == []
