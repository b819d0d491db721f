"""Finding the Jupyter server to publish through, so that ``jln send "done"`` works in a
notebook's terminal with no URL and no token.

First the server this process descends from: jln_server puts its URL and an owner token (one
that may only notify the server's user) into the environment its kernels and terminals inherit,
and so do the jobs they start. Then ``$JLN_URL``, then a server found on this machine:
jupyter_server writes a ``jpserver-<pid>.json`` file for each running server into the Jupyter
runtime directory, holding its URL and token. We read those files ourselves rather than asking
jupyter_core, because this package must work where Jupyter is not installed.

Publishing through the server it descends from, a process also tells it its ancestry (its own
pid, its parent's, and so on): the server looks for one of its terminals' shells among them and
gives a notification without a return address that terminal's (``jln send`` typed in terminal 1,
or a job started there, comes home as ``{"kind": "terminal", "name": "1"}``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import BrokerUnavailable, JLNError
from .http import STATUS_PATH, ServerAPI, split_base

STATUS_TIMEOUT = 2.0
"""Seconds to wait for a server's status: a live local server answers at once."""
URL_ENV = "JLN_URL"
SERVER_URL_ENV = "JLN_SERVER_URL"
"""The base URL of the Jupyter server whose kernel or terminal this is (set by jln_server)."""
SERVER_TOKEN_ENV = "JLN_SERVER_TOKEN"
"""Its owner token: publishes to the server's user only (set by jln_server, new each start)."""
SERVER_ROOT_ENV = "JLN_SERVER_ROOT"
"""Its root directory, which notebook paths are relative to (set by jln_server)."""
MAX_ANCESTORS = 64
"""How far up the process tree ``ancestry`` looks; the server takes no more."""


def default_broker(url: str | None = None, token: str | None = None, *,
                   publishing: bool = False) -> tuple[str, str | None]:
    """The broker to use and the token for it: ``url`` if given; to publish, then the server
    this process descends from (``$JLN_SERVER_URL`` with ``$JLN_SERVER_TOKEN``); else
    ``$JLN_URL``, else the Jupyter server running on this machine (never a private in-process
    store nobody reads). The owner token only publishes: reading uses the others."""
    if not url and publishing and os.environ.get(SERVER_URL_ENV):
        return os.environ[SERVER_URL_ENV], token or os.environ.get(SERVER_TOKEN_ENV) or None
    url = url or os.environ.get(URL_ENV)
    if url:
        return url, token
    base, found = find_server()
    return base, token or found


def ancestry_for(url: str) -> list[int]:
    """This process's ancestry when ``url`` is the server it descends from
    (``$JLN_SERVER_URL``), for that server to find the terminal it runs in; else nothing: pids
    mean nothing to another machine's server."""
    own = os.environ.get(SERVER_URL_ENV)
    if not own or split_base(url)[0] != split_base(own)[0]:
        return []
    return ancestry()


def ancestry() -> list[int]:
    """This process's id, its parent's, and so on up to (not including) init, nearest first,
    at most ``MAX_ANCESTORS``. Read from ``/proc`` (Linux); elsewhere only our own and our
    parent's."""
    pids = [os.getpid()]
    parent: int | None = os.getppid()
    while parent and parent > 1 and len(pids) < MAX_ANCESTORS and parent not in pids:
        pids.append(parent)
        parent = _parent_of(parent)
    return pids


def _parent_of(pid: int) -> int | None:
    """The parent of ``pid`` from ``/proc/<pid>/stat``, or None (gone, or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "<pid> (<command, which may hold spaces and parentheses>) <state> <ppid> ..."
    fields = stat.rpartition(")")[2].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def runtime_dir() -> Path:
    """Where jupyter_core puts runtime files, by the same rules (without importing it)."""
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        return Path(os.environ["JUPYTER_RUNTIME_DIR"])
    if os.environ.get("JUPYTER_DATA_DIR"):
        return Path(os.environ["JUPYTER_DATA_DIR"], "runtime")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Jupyter" / "runtime"
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"], "jupyter", "runtime")
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home, "jupyter", "runtime")


def running_servers(directory: Path) -> list[dict[str, Any]]:
    """The server files in ``directory`` whose process is alive, newest first."""
    files = sorted(directory.glob("jpserver-*.json"), key=_mtime, reverse=True)
    servers = (_read(path) for path in files)
    return [info for info in servers if info and _alive(info.get("pid"))]


def has_jln(info: dict[str, Any]) -> bool:
    """Whether the server answers JLN's status endpoint: the extension is enabled there."""
    api = ServerAPI(str(info.get("url", "")), info.get("token") or None, timeout=STATUS_TIMEOUT)
    try:
        status, _ = api.call("GET", STATUS_PATH)
    except (JLNError, OSError, ValueError):
        return False
    return status == 200


def find_server() -> tuple[str, str | None]:
    """The base URL and token of the newest running Jupyter server with jln_server."""
    directory = runtime_dir()
    for info in running_servers(directory):
        if has_jln(info):
            return str(info["url"]), info.get("token") or None
    raise BrokerUnavailable(f"no running Jupyter server with jln_server found on this machine "
                            f"(looked in {directory}); start one with `jupyter lab`, or give a "
                            f"broker URL (--url, ${URL_ENV}, or the publisher's url)")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed while we looked: sorts last, then fails to read
        return 0.0


def _read(path: Path) -> dict[str, Any] | None:
    """A server file's content, or None for one that vanished or is half-written."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("url"), str) else None


def _alive(pid: Any) -> bool:
    """Whether a process exists; a server killed hard leaves its file behind."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill would terminate it there; let the status call decide
        return True
    try:
        os.kill(pid, 0)
    except PermissionError:  # someone else's process, but alive
        return True
    except OSError:
        return False
    return True
