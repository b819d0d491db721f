"""A throwaway ``jupyter server`` with one extension, for benchmarks: ``JupyterProcess`` runs
JLN's, ``ServerProcess`` any other (the peer suite runs another extension from a virtualenv).

Its own free port on 127.0.0.1, a fresh token, and a temporary directory for everything Jupyter
would otherwise read or write in the user's home (root, runtime, config, data). Only the one
extension is loaded: every other server extension its environment enables is turned off, so the
figures are jupyter_server's and that extension's alone. The server's output goes to a log in
that directory; ``log_text()`` still has it after the block.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .redis_process import free_port, start_on_a_free_port, wait_until_ready

CHECKOUT = Path(__file__).resolve().parent.parent
_STOP_TIMEOUT = 15.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_Server = TypeVar("_Server", bound="ServerProcess")


_ENABLED_EXTENSIONS = """
import json
from jupyter_core.paths import jupyter_config_path
from jupyter_server.extension.config import ExtensionConfigManager
manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
print(json.dumps(sorted(manager.get_jpserver_extensions())))
"""


def other_extensions_off(extension: str, python: str = sys.executable) -> dict[str, bool]:
    """``jpserver_extensions`` enabling ``extension`` and disabling every other extension the
    config of ``python``'s environment enables (an extension named on the command line is not
    looked up in the config files)."""
    names = {*_enabled_extensions(python), extension}
    return {name: name == extension for name in sorted(names)}


@functools.cache
def _enabled_extensions(python: str) -> tuple[str, ...]:
    """Asked of the interpreter that runs the server (a virtualenv reads its own config), once:
    what the config files enable does not change during a run."""
    found = subprocess.run([python, "-c", _ENABLED_EXTENSIONS], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60, check=True)
    return tuple(json.loads(found.stdout))


class ServerProcess:
    """``with ServerProcess(extension) as server: server.url, server.token, server.rss()``: a
    server running ``extension`` alone with the interpreter ``python``, ready once
    ``ready_path`` answers 200."""

    def __init__(self, extension: str, args: Sequence[str] = (), startup_timeout: float = 60.0,
                 python: str = sys.executable, ready_path: str = "api/status") -> None:
        self.extension = extension
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.python = python
        self.ready_path = ready_path
        self.token = secrets.token_hex(16)
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._last_log = ""

    @property
    def url(self) -> str:
        """The server's base URL, ending in a slash."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the jupyter server is not running")
        return self._process.pid

    @property
    def log_path(self) -> Path:
        if self._dir is None:
            raise RuntimeError("the jupyter server has no directory yet")
        return self._dir / "jupyter.log"

    def rss(self) -> int:
        """Resident set size now, in bytes (``VmRSS`` of ``/proc/<pid>/status``)."""
        return self._proc_status("VmRSS")

    def peak_rss(self) -> int:
        """The largest resident set size so far, in bytes (``VmHWM``)."""
        return self._proc_status("VmHWM")

    def get(self, path: str, timeout: float = 10.0) -> dict[str, Any]:
        """``GET`` a JSON object at ``path`` under the base URL, with the token."""
        with urllib.request.urlopen(self._request(path), timeout=timeout) as response:
            return dict(json.load(response))

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold ' '
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def log_text(self) -> str:
        """The server's output so far; after the block, all of it, shutdown included."""
        if self._dir is None:
            return self._last_log
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self: _Server) -> _Server:
        self._dir = Path(tempfile.mkdtemp(prefix="jln-bench-jupyter-"))
        for name in ("root", "runtime", "config", "data", "home"):
            (self._dir / name).mkdir()
        start_on_a_free_port(self._start, self._stop, self._cleanup)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop()
        self._last_log = self.log_text()
        self._cleanup()

    def command(self) -> list[str]:
        assert self._dir is not None
        return [
            self.python, "-m", "jupyter_server",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self._dir / 'root'}",
            "--ServerApp.jpserver_extensions="
            f"{other_extensions_off(self.extension, self.python)!r}",
            f"--IdentityProvider.token={self.token}",
            "--allow-root", "--no-browser", *self.args,
        ]

    def environment(self) -> dict[str, str]:
        """This process's environment without anything that would point the server elsewhere
        (a hub, a token, another broker), with Jupyter's directories in ours, and this checkout
        first on the path: the ``jln_server`` measured is the one beside the benchmarks."""
        assert self._dir is not None
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTERHUB_", "JLN_", "JUPYTER_", "JPY_"))}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT),
                                                         os.environ.get("PYTHONPATH")]))
        env.update(JUPYTER_RUNTIME_DIR=str(self._dir / "runtime"),
                   JUPYTER_CONFIG_DIR=str(self._dir / "config"),
                   JUPYTER_DATA_DIR=str(self._dir / "data"), HOME=str(self._dir / "home"),
                   PYTHONUNBUFFERED="1")
        return env

    def kill(self) -> None:
        """SIGKILL to the whole session, as a crash or the OOM killer would: no extension
        stops and the kernel ends every connection."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(_STOP_TIMEOUT)

    def start_again(self) -> None:
        """Start it again on the same port with the same token and directories, as a
        supervisor would after a crash (clients reconnect to the same URL); returns once
        ``ready_path`` answers 200."""
        self._launch()

    def status_code(self) -> int | None:
        """The HTTP status ``GET <ready_path>`` answers with now; None while nothing
        answers."""
        try:
            with urllib.request.urlopen(self._request(self.ready_path), timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return None

    def _start(self) -> None:
        self.port = free_port()
        self._launch()

    def _launch(self) -> None:
        assert self._dir is not None
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.environment(), cwd=self._dir / "root", start_new_session=True)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll ``GET <ready_path>`` until it answers 200."""
        assert self._process is not None
        wait_until_ready(self._process, lambda: self.status_code() == 200,
                         self.startup_timeout, "jupyter server", self._log_tail)

    def _proc_status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024  # reported in kB
        raise RuntimeError(f"no {field} in /proc/{self.pid}/status")

    def _request(self, path: str) -> urllib.request.Request:
        return urllib.request.Request(self.url + path,
                                      headers={"Authorization": f"token {self.token}"})

    def _stop(self) -> None:
        """SIGTERM (jupyter_server stops its extensions and closes its sockets), then SIGKILL
        to the whole session if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(_STOP_TIMEOUT)

    def _log_tail(self, lines: int = 5) -> str:
        tail = self.log_text().strip().splitlines()[-lines:]
        return " | ".join(tail) if tail else "(no log)"

    def _cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class JupyterProcess(ServerProcess):
    """``with JupyterProcess(redis_url) as server: server.url, server.token, server.rss()``: a
    server with ``jln_server`` on ``redis_url``, ready once ``jln/api/status`` answers."""

    def __init__(self, redis_url: str, args: Sequence[str] = (),
                 startup_timeout: float = 60.0) -> None:
        super().__init__("jln_server", [f"--JLN.redis_url={redis_url}", *args], startup_timeout,
                         ready_path="jln/api/status")
        self.redis_url = redis_url

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/jln/api/ws"

    def status(self) -> dict[str, Any]:
        """``GET jln/api/status``: broker, reader, clients and ingest counters."""
        return self.get("jln/api/status")


@dataclass(frozen=True)
class CpuClock:
    """CPU a server and this process (clients, publisher) used over a stretch of wall time:
    a server near 100 % of a core is saturated; the two together near 200 % mean the machine's
    two cores are."""

    server: ServerProcess
    wall: float
    server_cpu: float
    own_cpu: float

    @classmethod
    def start(cls, server: ServerProcess) -> CpuClock:
        return cls(server, time.perf_counter(), server.cpu_seconds(), time.process_time())

    def percentages(self) -> dict[str, int]:
        """Percent of one core, as ``top`` shows it."""
        wall = time.perf_counter() - self.wall
        server = self.server.cpu_seconds() - self.server_cpu
        own = time.process_time() - self.own_cpu
        return {"server_cpu_pct": round(100 * server / wall),
                "bench_cpu_pct": round(100 * own / wall)}
