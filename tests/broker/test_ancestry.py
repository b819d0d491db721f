"""A publisher's ancestry goes only to the server it descends from: pids mean nothing to
another machine's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jln_broker.discovery import SERVER_URL_ENV, ancestry, ancestry_for


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc walk is Linux's")
def test_ancestry_reaches_past_the_parent_nearest_first() -> None:
    child = subprocess.run([sys.executable, "-c", "from jln_broker.discovery import ancestry; "
                            "print(ancestry())"], capture_output=True, text=True, check=True)
    pids = json.loads(child.stdout)
    assert pids[1:3] == [os.getpid(), os.getppid()]


def test_ancestry_goes_only_to_the_server_this_process_descends_from(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_URL_ENV, "http://127.0.0.1:8888/")
    assert ancestry_for("http://127.0.0.1:8888/lab?token=x") == ancestry()
    assert ancestry_for("https://hub.example.org/user/ada/") == []
    monkeypatch.delenv(SERVER_URL_ENV)
    assert ancestry_for("http://127.0.0.1:8888/") == []
