"""A real JupyterHub for tests, on loopback: its own free ports, its own directory (the sqlite
database, the cookie secret, the proxy's pid file, each user's home), the Python
configurable-http-proxy, the shared-password authenticator, and single-user servers started
as local processes of the same OS account, with JLN reading the test Redis.

``HubProcess(directory, redis_url, HubSetup(...)).start()`` writes ``jupyterhub_config.py``
and starts ``jupyterhub`` with it. ``HubSetup.extra_config`` lines are appended to that file,
so a test module can add services and roles (``c.JupyterHub.services.append(...)``,
``c.JupyterHub.load_roles.extend(...)``); ``HubSetup.config_file`` runs a deployment's own
config instead, on this machine's ports and directories.
``api()`` calls the hub's REST API as an admin service; ``spawn()`` starts users' servers.
``stop()`` stops the hub, which stops the proxy and the servers; whatever outlives it (all in
the hub's process group but the proxy, whose pid the proxy's file gives) is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.clients import free_port

START_TIMEOUT = 60.0
"""Seconds for the hub (and its proxy) to answer, and for a user's server to be ready."""
STOP_TIMEOUT = 30.0
ADMIN_SERVICE = "jln-test-admin"
"""The service whose token ``HubProcess.api`` uses: a hub admin in all but name."""


@dataclass(frozen=True)
class HubSetup:
    """Who is on the hub, and what else its config says."""

    users: tuple[str, ...] = ("alice", "bob")
    admins: tuple[str, ...] = ("admin",)
    groups: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"ml": ("alice",)})
    server_args: tuple[str, ...] = ()
    """More command-line arguments of every single-user server (``--JLN.x=...``)."""
    server_env: Mapping[str, str] = field(default_factory=dict)
    """More environment of every single-user server (``c.Spawner.environment``)."""
    extra_config: tuple[str, ...] = ()
    """Lines appended to ``jupyterhub_config.py``: services, roles, any other setting."""
    config_file: Path | None = None
    """A ``jupyterhub_config.py`` to run instead of the people and JLN settings made from the
    fields above (users, groups, server environment), which must then agree with it; it takes
    ``$JLN_URL``, ``$HUB_PASSWORD`` and ``$HUB_ADMIN_PASSWORD`` from the environment. This
    machine's ports and directories replace its own."""


class HubProcess:
    """``jupyterhub`` in a subprocess, reached at ``url`` through its proxy."""

    def __init__(self, directory: Path, redis_url: str, setup: HubSetup = HubSetup()) -> None:
        self.directory = directory
        self.redis_url = redis_url
        self.setup = setup
        self.port, self.proxy_api_port, self.hub_port = free_port(), free_port(), free_port()
        self.api_token = secrets.token_hex(32)
        self.user_password = secrets.token_hex(8)
        self.admin_password = secrets.token_hex(16)
        self.publisher_secret = secrets.token_hex(16)
        self.config_path = directory / "jupyterhub_config.py"
        self.log_path = directory / "jupyterhub.log"
        self.proxy_pid_path = directory / "proxy.pid"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        """The proxy's public URL, ending in a slash: what a browser opens."""
        return f"http://127.0.0.1:{self.port}/"

    def password(self, user: str) -> str:
        return self.admin_password if user in self.setup.admins else self.user_password

    def home(self, user: str) -> Path:
        return self.directory / "home" / user

    def config(self) -> str:
        """The hub's ``jupyterhub_config.py``: ``HubSetup.config_file`` (if any) with this
        machine's ports and directories in place of its own, else the setup's people and JLN
        settings; then the admin service and ``extra_config``."""
        if self.setup.config_file:
            lines = [f"load_subconfig({str(self.setup.config_file)!r})", *self._machine()]
        else:
            lines = [*self._machine(), *self._people()]
        return "\n".join([
            "c = get_config()  # noqa",
            *lines,
            f"c.JupyterHub.services.append({{'name': {ADMIN_SERVICE!r}, "
            f"'api_token': {self.api_token!r}}})",
            f"c.JupyterHub.load_roles.append({{'name': {ADMIN_SERVICE!r}, "
            "'scopes': ['admin:users', 'admin:servers', 'admin:groups', 'tokens', "
            f"'access:servers'], 'services': [{ADMIN_SERVICE!r}]}})",
            *self.setup.extra_config,
        ]) + "\n"

    def _machine(self) -> list[str]:
        """Where the hub, its proxy and its servers run here: loopback, free ports, this
        directory, this Python."""
        proxy = str(Path(sysconfig.get_path("scripts")) / "configurable-http-proxy")
        server_args = ["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []
        server_args += list(self.setup.server_args)
        return [
            f"c.JupyterHub.bind_url = {self.url!r}",
            f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{self.hub_port}'",
            f"c.JupyterHub.db_url = {'sqlite:///' + str(self.directory / 'hub.sqlite')!r}",
            f"c.JupyterHub.cookie_secret_file = {str(self.directory / 'cookie_secret')!r}",
            "c.JupyterHub.log_level = 'INFO'",
            f"c.ConfigurableHTTPProxy.command = [{proxy!r}]",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self.proxy_api_port}'",
            f"c.ConfigurableHTTPProxy.auth_token = {secrets.token_hex(32)!r}",
            f"c.ConfigurableHTTPProxy.pid_file = {str(self.proxy_pid_path)!r}",
            "c.JupyterHub.spawner_class = 'simple'",
            f"c.SimpleLocalProcessSpawner.home_dir_template = "
            f"{str(self.directory / 'home' / '{username}')!r}",
            f"c.Spawner.cmd = [{sys.executable!r}, '-m', 'jupyterhub.singleuser']",
            f"c.Spawner.args = {server_args!r}",
            f"c.Spawner.start_timeout = {int(START_TIMEOUT)}",
            f"c.Spawner.http_timeout = {int(START_TIMEOUT)}",
            # In the hub's process group, so that one signal reaches whatever outlives it.
            "c.LocalProcessSpawner.popen_kwargs = {'start_new_session': False}",
        ]

    def _people(self) -> list[str]:
        """Who logs in (with which password), the groups, and the servers' JLN settings."""
        environment = {"JLN_URL": self.redis_url, "JLN_SECRET": self.publisher_secret,
                       "PYTHONUNBUFFERED": "1", **self.setup.server_env}
        groups = {name: {"users": list(members)} for name, members in self.setup.groups.items()}
        return [
            "c.JupyterHub.authenticator_class = 'shared-password'",
            f"c.SharedPasswordAuthenticator.user_password = {self.user_password!r}",
            f"c.SharedPasswordAuthenticator.admin_password = {self.admin_password!r}",
            f"c.Authenticator.allowed_users = {set(self.setup.users)!r}",
            f"c.Authenticator.admin_users = {set(self.setup.admins)!r}",
            f"c.JupyterHub.load_groups = {groups!r}",
            f"c.Spawner.environment = {environment!r}",
        ]

    def environment(self) -> dict[str, str]:
        """This process's environment without what would make the hub or its servers take
        another hub's, server's or broker's settings."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTERHUB_", "JLN_", "JUPYTER_", "JPY_"))}
        # What a config file (HubSetup.config_file) takes from the environment.
        env.update(PYTHONUNBUFFERED="1", JLN_URL=self.redis_url, HUB_PASSWORD=self.user_password,
                   HUB_ADMIN_PASSWORD=self.admin_password)
        return env

    def start(self) -> None:
        """Start the hub and wait until its proxy serves ``hub/health``."""
        self.config_path.write_text(self.config())
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=self.environment(), cwd=self.directory, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._failed(f"exited with code {self._process.returncode}")
            if self._status(self.url + "hub/health") == 200:
                return
            time.sleep(0.2)
        self._failed(f"did not answer GET hub/health in {START_TIMEOUT:g}s")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """``method`` on ``hub/api/<path>`` as the admin service; the JSON answer (None if
        empty). A refusal raises ``urllib.error.HTTPError``."""
        request = urllib.request.Request(
            self.url + "hub/api/" + path.lstrip("/"), method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.api_token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def spawn(self, *users: str) -> None:
        """Start these users' servers (those not running), side by side, and wait until the
        hub says each is ready."""
        for user in users:
            if self._server(user).get("ready"):
                continue
            try:
                self.api("POST", f"users/{user}/server")
            except urllib.error.HTTPError as err:
                if err.code != 400:  # 400: already starting
                    raise
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(users)
        while waiting:
            server = self._server(waiting[0])
            if server.get("ready"):
                waiting.pop(0)
                continue
            if not server.get("pending"):
                self._failed(f"could not start {waiting[0]}'s server")
            if time.monotonic() > deadline:
                self._failed(f"{waiting[0]}'s server was not ready in {START_TIMEOUT:g}s")
            time.sleep(0.2)

    def _server(self, user: str) -> dict[str, Any]:
        """The hub's model of ``user``'s default server; empty if it has none."""
        return dict(self.api("GET", f"users/{user}")["servers"].get("", {}))

    def stop(self) -> None:
        """Stop the hub (SIGTERM: it stops the servers and the proxy), then kill what is left:
        the hub's process group (servers included) and the proxy."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(STOP_TIMEOUT)
            _kill_group(process.pid)
            if process.poll() is None:
                process.wait(STOP_TIMEOUT)
        proxy_pid = self._proxy_pid()  # the hub removes the file once it stopped the proxy
        if proxy_pid is not None:
            _kill_group(proxy_pid)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _proxy_pid(self) -> int | None:
        try:
            return int(self.proxy_pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _status(url: str) -> int | None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return None

    def _failed(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"JupyterHub {why}; log {self.log_path}:\n{tail}")


def _kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid``, if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
