"""Fixtures for testing the ``jln_server`` extension, two ways.

In process, through pytest-jupyter: ``jp_fetch`` and ``jp_ws_fetch`` add the token. The server
reads the test Redis (``redis_url``); ``@pytest.mark.jln(user="ada", send_queue_limit=2, ...)``
sets other ``JLN.*`` traits for one test (or override ``jln_config``). The extension's start
hook runs for every such test (``jln_running``); ask for ``jln_started`` (or ``ws_client``,
which implies it) to wait until the owner's history is loaded.

As a real ``jupyter server`` (or ``jupyter lab``) subprocess: ``jupyter_process(redis_url, ...)``
returns a ``JupyterProcess`` with ``.url``, ``.token``, ``.runtime_dir``, ``.stop()``,
``.start()``, ``.restart()`` (same port, same token); ``ws_connect(process)`` opens a socket
on it. Processes and sockets are closed after each test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_jupyter.jupyter_server as _pytest_jupyter

from .clients import FRAME_TIMEOUT, Client, InProcess, connect, free_port, ws_url

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


# --- in process: pytest-jupyter --------------------------------------------------------------

# pytest-jupyter has no entry point and only a top-level conftest may name plugins, so take its
# fixtures (not its hooks: pytest-asyncio runs our async tests) into this directory's scope,
# except the ones below, which this file defines.
_OWN = ("jp_asyncio_loop", "jp_server_cleanup", "jp_server_config", "jp_fetch", "jp_ws_fetch")
globals().update({name: getattr(_pytest_jupyter, name) for name in dir(_pytest_jupyter)
                  if name.startswith(("jp_", "http_server", "io_loop", "echo_kernel",
                                      "send_request")) and name not in _OWN})


@pytest_asyncio.fixture
async def jp_asyncio_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """pytest-jupyter's loop is pytest-asyncio's: the test, the server and its reader share it
    (on two loops, ``jp_fetch`` would wait forever for a server that never runs)."""
    yield asyncio.get_running_loop()


@pytest.fixture(autouse=True)
def jp_server_cleanup(request: pytest.FixtureRequest,
                      jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Stops the in-process server and its extensions after each test that started one."""
    yield
    if "jp_serverapp" not in request.fixturenames:
        return
    from jupyter_server.serverapp import ServerApp

    app = ServerApp.instance()
    jp_asyncio_loop.run_until_complete(app._cleanup())
    ServerApp.clear_instance()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "jln(**traits): JLN.* traits of the in-process server for this test")


@pytest.fixture
def jln_config(request: pytest.FixtureRequest, redis_url: str) -> dict[str, Any]:
    """``JLN.*`` traits for the in-process server: the test Redis, and whatever the test's
    ``@pytest.mark.jln(...)`` sets."""
    config: dict[str, Any] = {"redis_url": redis_url}
    for marker in reversed(list(request.node.iter_markers("jln"))):
        config.update(marker.kwargs)
    return config


@pytest.fixture
def jp_server_config(jln_config: dict[str, Any]) -> dict[str, Any]:
    """The in-process server with the extension enabled and ``jln_config`` applied."""
    return {"ServerApp": {"jpserver_extensions": {"jln_server": True}}, "JLN": dict(jln_config)}


@pytest.fixture
def jln_app(jp_serverapp: Any) -> Any:
    """The ``JLN`` extension app loaded into the in-process server."""
    apps = jp_serverapp.extension_manager.extension_apps["jln_server"]
    return next(iter(apps))


@pytest_asyncio.fixture
async def jln_running(jp_serverapp: Any, jln_app: Any) -> Any:
    """Runs the extension's start hook (the fan-out reader, which loads the owner's history)
    as ``jupyter server`` does once its loop runs: pytest-jupyter does not."""
    await jp_serverapp.extension_manager.start_extension("jln_server")
    return jln_app  # jp_server_cleanup stops it


@pytest.fixture
def jp_fetch(jln_running: Any, jp_serverapp: Any, http_server_client: Any,
             jp_auth_header: Any, jp_base_url: str) -> Any:
    """pytest-jupyter's, on a server whose extension has started, like a real one."""
    return _pytest_jupyter.jp_fetch.__wrapped__(  # type: ignore[attr-defined]
        jp_serverapp, http_server_client, jp_auth_header, jp_base_url)


@pytest.fixture
def jp_ws_fetch(jln_running: Any, jp_serverapp: Any, http_server_client: Any,
                jp_auth_header: Any, jp_http_port: int, jp_base_url: str) -> Any:
    """pytest-jupyter's, on a server whose extension has started, like a real one."""
    return _pytest_jupyter.jp_ws_fetch.__wrapped__(  # type: ignore[attr-defined]
        jp_serverapp, http_server_client, jp_auth_header, jp_http_port, jp_base_url)


@pytest_asyncio.fixture
async def jln_started(jln_running: Any) -> Any:
    """The running extension, once its history is loaded and its reader has its position."""
    await asyncio.wait_for(jln_running.service.fanout._ready.wait(), FRAME_TIMEOUT)
    return jln_running


@pytest.fixture
def server(jln_started: Any, http_server: Any, jp_serverapp: Any, jp_http_port: int,
           jp_base_url: str) -> InProcess:
    """The running in-process server, its owner's history loaded."""
    return InProcess(f"http://127.0.0.1:{jp_http_port}{jp_base_url}",
                     jp_serverapp.identity_provider.token, jln_started.service)


@pytest.fixture
def ws_client(jp_ws_fetch: Callable[..., Any], jln_started: Any
              ) -> Iterator[Callable[..., Any]]:
    """``await ws_client(cursor=...)``: a ``Client`` on the in-process server's socket."""
    opened: list[Client] = []

    async def open_client(**params: str) -> Client:
        conn = await asyncio.wait_for(jp_ws_fetch("jln", "api", "ws", params=params),
                                      FRAME_TIMEOUT)
        client = Client(conn)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def ws_connect() -> Iterator[Callable[..., Any]]:
    """``await ws_connect(process, cursor=...)``: a ``Client`` on a ``JupyterProcess``'s socket,
    closed after the test."""
    opened: list[Client] = []

    async def open_client(process: JupyterProcess, **params: str) -> Client:
        client = await connect(ws_url(process.url), process.token, **params)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


# --- a real jupyter server process ------------------------------------------------------------

class JupyterProcess:
    """``jupyter server`` (or another Jupyter app) in a subprocess on a fixed free port, with a
    fixed token, so ``restart()`` brings back the same server at the same URL."""

    def __init__(self, directory: Path, *, redis_url: str | None, app: str,
                 args: Sequence[str], env: Mapping[str, str], base_url: str) -> None:
        self.directory = directory
        self.root_dir = directory / "root"
        self.runtime_dir = directory / "runtime"
        self.log_path = directory / "jupyter.log"
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
        self.redis_url = redis_url
        self.app = app
        self.args = list(args)
        self.env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        """The server's base URL, ending in a slash."""
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "jupyter", self.app,
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.base_url={self.base_url}",
            f"--ServerApp.root_dir={self.root_dir}", f"--IdentityProvider.token={self.token}",
            "--ServerApp.jpserver_extensions={'jln_server': True}",
            "--allow-root", "--no-browser", "--ServerApp.open_browser=False",
        ]
        if self.redis_url is not None:
            command.append(f"--JLN.redis_url={self.redis_url}")
        return command + self.args

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTERHUB_", "JLN_")) and k not in (
                   "JUPYTER_TOKEN", "JPY_API_TOKEN")}
        home = self.directory / "home"
        home.mkdir(exist_ok=True)
        env.update(JUPYTER_RUNTIME_DIR=str(self.runtime_dir), JUPYTER_CONFIG_DIR=str(
            self.directory / "config"), JUPYTER_DATA_DIR=str(self.directory / "data"),
            HOME=str(home), PYTHONUNBUFFERED="1")
        env.update(self.env)
        return env

    def start(self) -> None:
        """Start the server and wait until ``GET jln/api/status`` answers 200."""
        if self.running:
            return
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== {' '.join(self.command())}\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=self.environment(), cwd=self.root_dir,
            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._failed(f"exited with code {self._process.returncode}")
            if self.status_code() == 200:
                return
            time.sleep(0.1)
        self._failed(f"did not answer GET jln/api/status in {START_TIMEOUT:g}s")

    def status_code(self) -> int | None:
        request = urllib.request.Request(self.url + "jln/api/status",
                                          headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _failed(self, why: str) -> None:
        self.stop()
        pytest.fail(f"jupyter {self.app} {why}; log {self.log_path}:\n{self.log_tail()}",
                    pytrace=False)


@pytest.fixture
def jupyter_process(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Callable[..., JupyterProcess]]:
    """Factory: ``jupyter_process(redis_url, *extra_args, app="server", env={...},
    base_url="/", start=True)``. ``redis_url=None`` leaves ``JLN.redis_url`` unset (the
    embedded ``memory://`` broker); ``app="lab"`` runs ``jupyter lab``; ``env`` adds to the
    server's environment (``JUPYTERHUB_*`` and ``JLN_*`` of this one are left out)."""
    made: list[JupyterProcess] = []

    def make(redis_url: str | None = None, *args: str, app: str = "server",
             env: Mapping[str, str] | None = None, base_url: str = "/",
             start: bool = True) -> JupyterProcess:
        process = JupyterProcess(tmp_path_factory.mktemp("jupyter"), redis_url=redis_url,
                                 app=app, args=args, env=env or {}, base_url=base_url)
        made.append(process)
        if start:
            process.start()
        return process

    yield make
    for process in made:
        process.stop()
