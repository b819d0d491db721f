"""Fixtures for real processes: a private ``redis-server`` on a free port, a Redis Sentinel
group and a Redis Cluster (``benchmarks.redis_topology``), and embedded brokers.

Never the shared Redis on 6379: every test that needs Redis gets ``redis_url``, a freshly
flushed database on a server this session started and stops.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.redis_topology import ClusterGroup, SentinelGroup
from jln_broker import connection

START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    """True once the server replies ``+PONG`` (not ``-LOADING`` while it replays its AOF)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` process owned by the test session.

    It listens on 127.0.0.1 at a port picked free at the first start and kept across restarts,
    so ``url`` stays valid. AOF with ``appendfsync always`` makes every acknowledged write
    survive ``stop()``, which is an abrupt SIGKILL (a crash, not a clean shutdown).
    """

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (on a new free port the first time) and wait until it answers."""
        if self.running:
            return
        if self.port:
            self._launch(self.port)
            return
        for _ in range(5):  # another process may grab the free port before redis binds it
            port = _free_port()
            try:
                self._launch(port)
            except RuntimeError:
                continue
            self.port = port
            return
        raise RuntimeError(f"redis-server did not start; see {self.directory / 'redis.log'}")

    def stop(self) -> None:
        """Kill the server abruptly (SIGKILL); the AOF keeps what it acknowledged."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=START_TIMEOUT)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cli(self, *args: str) -> str:
        """Run the real ``redis-cli`` against this server and return its standard output
        (bytes that are not UTF-8, such as msgpack payloads, come back as ``\\xNN``). An error
        reply is output too: redis-cli exits 0 on ``ERR ...``."""
        done = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True, timeout=START_TIMEOUT, check=True,
        )
        return done.stdout.decode("utf-8", "backslashreplace")

    def _launch(self, port: int) -> None:
        command = [
            self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--daemonize", "no", "--logfile", str(self.directory / "redis.log"),
        ]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {process.returncode}")
            if _answers_ping(port):
                self._process = process
                return
            time.sleep(0.02)
        process.kill()
        process.wait()
        raise RuntimeError(f"redis-server did not answer PING on port {port} in time")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server for the whole session, stopped at its end."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        pytest.fail("redis-server and redis-cli must be on PATH (apt-get install -y redis-server)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The private server's URL, emptied (and started again if a test left it down)."""
    redis_server.start()
    redis_server.cli("FLUSHALL")
    yield redis_server.url


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A ``memory://`` broker of this test's own; forgotten afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield f"memory://{name}"
    connection._memory_servers.pop(name, None)


@pytest.fixture(params=["redis", "memory"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs against the real redis-server and the embedded broker."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def sentinel_group() -> Iterator[SentinelGroup]:
    """A master, two replicas and three sentinels watching them as service ``jln`` (a master
    killed is replaced within seconds, and one replica is left to confirm writes), all on free
    ports in temporary directories; stopped after the test."""
    with SentinelGroup() as group:
        yield group


@pytest.fixture
def redis_cluster() -> Iterator[ClusterGroup]:
    """A Redis Cluster of three masters on free ports, every slot assigned; stopped after the
    test."""
    with ClusterGroup() as cluster:
        yield cluster
