"""A throwaway ``redis-server`` for benchmarks.

Its own free port on 127.0.0.1, its own temporary directory, no persistence: a benchmark must
never touch a Redis someone else uses (one may already listen on 6379), and must leave nothing
behind when it ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_START_ATTEMPTS = 3  # another process may grab the free port between our probe and the start


def start_on_a_free_port(start: Callable[[], None], undo: Callable[[], None],
                        cleanup: Callable[[], None]) -> None:
    """Run ``start`` (which picks a free port), trying again when another process takes the
    port first; ``undo`` clears a failed try, ``cleanup`` everything once the last one fails."""
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            start()
            return
        except RuntimeError:
            undo()
            if attempt == _START_ATTEMPTS:
                cleanup()
                raise


def wait_until_ready(process: subprocess.Popen[bytes], ready: Callable[[], bool],
                     timeout: float, name: str, log_tail: Callable[[], str]) -> None:
    """Poll ``ready`` until it holds; a process that exits (its port taken) fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start: {log_tail()}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not answer within {timeout:g}s: {log_tail()}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def probe(port: int, timeout: float = 2.0) -> redis.Redis:
    """A client of the Redis on ``port`` that tries each command once: redis-py's default
    retries a refused or closed connection for seconds, which only delays a probe."""
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout,
                       retry=Retry(NoBackoff(), 0), decode_responses=True)


class RedisProcess:
    """``with RedisProcess() as server: server.url`` gives a private Redis for the block.

    ``args`` are added to the command line; ``config`` is written to a file in the process's
    directory and named first (a sentinel must have a config file it may rewrite); ``pick_port``
    chooses the port (a cluster node also needs the port 10,000 above it).
    """

    def __init__(self, executable: str = "redis-server", startup_timeout: float = 10.0, *,
                 args: Sequence[str] = (), config: str | None = None,
                 pick_port: Callable[[], int] = free_port) -> None:
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.args = list(args)
        self.config = config
        self.pick_port = pick_port
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=30)

    def version(self) -> str:
        with self.client() as client:
            return str(client.info("server")["redis_version"])

    def __enter__(self) -> RedisProcess:
        if shutil.which(self.executable) is None:
            raise RuntimeError(f"{self.executable} is not on PATH; install Redis 6.2 or newer")
        self._dir = Path(tempfile.mkdtemp(prefix="jln-bench-redis-"))
        start_on_a_free_port(self._start, self.kill, self._cleanup)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._shutdown()
        self._cleanup()

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise RuntimeError("the redis-server has no directory yet")
        return self._dir

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self) -> None:
        self.port = self.pick_port()
        config = []
        if self.config is not None:
            (self.directory / "redis.conf").write_text(self.config)
            config = [str(self.directory / "redis.conf")]
        self._process = subprocess.Popen(
            [self.executable, *config, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--save", "", "--appendonly", "no",
             "--logfile", str(self.directory / "redis.log"), *self.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        wait_until_ready(self._process, self._answers_ping, self.startup_timeout, "redis-server",
                         self._log_tail)

    def _answers_ping(self) -> bool:
        try:
            with probe(self.port, timeout=1) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    def _shutdown(self) -> None:
        """SHUTDOWN NOSAVE first (clean and quick), then a signal if it does not go."""
        if self._process is None or self._process.poll() is not None:
            return
        try:
            with probe(self.port, timeout=5) as client:
                client.shutdown(nosave=True)
        except redis.RedisError:
            pass  # the server closes the connection as it exits
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash, nothing saved, no goodbye to replicas or clients."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=5)

    def _log_tail(self) -> str:
        log = self._dir / "redis.log" if self._dir else None
        if log is None or not log.exists():
            return "(no log)"
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])

    def _cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
