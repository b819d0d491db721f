"""Redis Sentinel and Redis Cluster made of throwaway ``redis-server`` processes.

Each process is a ``RedisProcess``: its own free port on 127.0.0.1 and its own temporary
directory, so nothing here touches a Redis someone else uses. Both groups are context managers
that stop every process they started, whatever happened in the block.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from types import TracebackType

import redis

from .redis_process import RedisProcess, free_port, probe

CLUSTER_BUS_OFFSET = 10_000
"""A cluster node also listens on its port plus this, for the other nodes."""


class _Group:
    """Processes started in order and stopped together."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._stack = contextlib.ExitStack()

    def _started(self, process: RedisProcess) -> RedisProcess:
        return self._stack.enter_context(process)

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        """Poll ``condition`` (a refused connection counts as not yet) until it holds."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if condition():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not happen within {self.timeout:g}s")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stack.close()


class SentinelGroup(_Group):
    """A master, ``replicas`` replicas and ``sentinels`` sentinels watching them as
    ``service``, with a short ``down_after_ms``: a master killed is replaced within seconds.

    >>> with SentinelGroup() as group:
    ...     group.url       # redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/jln/0
    ...     old = group.kill_master()
    ...     group.wait_for_failover(old)
    """

    def __init__(self, replicas: int = 2, sentinels: int = 3, service: str = "jln",
                 down_after_ms: int = 1000, timeout: float = 30.0) -> None:
        super().__init__(timeout)
        self.service = service
        self.down_after_ms = down_after_ms
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.nodes: list[RedisProcess] = []
        """The master first, then the replicas, as started (a failover swaps their roles)."""
        self.sentinels: list[RedisProcess] = []

    def __enter__(self) -> SentinelGroup:
        try:
            master = self._started(RedisProcess())
            self.nodes.append(master)
            for _ in range(self.replica_count):
                self.nodes.append(self._started(RedisProcess(
                    args=["--replicaof", "127.0.0.1", str(master.port)])))
            for _ in range(self.sentinel_count):
                self.sentinels.append(self._started(RedisProcess(
                    config=self._sentinel_config(master.port), args=["--sentinel"])))
            self._wait(self._watching, "sentinels finding every replica and each other")
        except BaseException:
            self._stack.close()
            raise
        return self

    def url(self, query: str = "") -> str:
        """``redis+sentinel://`` naming every sentinel, the service and db 0."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0" + (f"?{query}" if query else "")

    def master(self) -> RedisProcess:
        """The node the sentinels name as master now."""
        with self._sentinel() as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(self.service)
        return next(n for n in self.nodes if n.port == int(port))

    def kill_master(self) -> RedisProcess:
        """SIGKILL the master (a crash: what it did not replicate is lost); returns it."""
        master = self.master()
        master.kill()
        return master

    def wait_for_failover(self, old: RedisProcess) -> RedisProcess:
        """Wait until the sentinels have promoted a replica and it takes writes, and every
        other live replica follows it; returns the new master."""
        def promoted() -> bool:
            new = self.master()
            return new is not old and _role(new) == "master" and all(
                _following(n, new) for n in self.nodes if n.running and n is not new)
        self._wait(promoted, f"a failover from port {old.port}")
        return self.master()

    def _sentinel_config(self, master_port: int) -> str:
        quorum = self.sentinel_count // 2 + 1
        name = self.service
        return (f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}\n"
                f"sentinel down-after-milliseconds {name} {self.down_after_ms}\n"
                f"sentinel failover-timeout {name} {max(3 * self.down_after_ms, 2000)}\n"
                f"sentinel parallel-syncs {name} {max(1, self.replica_count)}\n")

    def _sentinel(self) -> redis.Redis:
        return probe(self.sentinels[0].port)

    def _watching(self) -> bool:
        """Every sentinel knows every replica (linked to the master) and the other sentinels:
        only then can they agree on a failover."""
        if not all(_following(n, self.nodes[0]) for n in self.nodes[1:]):
            return False
        for process in self.sentinels:
            with probe(process.port) as sentinel:
                state = sentinel.sentinel_master(self.service)
            if (int(state["num-slaves"]) < self.replica_count
                    or int(state["num-other-sentinels"]) < self.sentinel_count - 1):
                return False
        return True


class ClusterGroup(_Group):
    """A Redis Cluster of ``masters`` masters (no replicas), every slot assigned.

    >>> with ClusterGroup() as cluster:
    ...     cluster.url     # redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
    """

    def __init__(self, masters: int = 3, timeout: float = 30.0) -> None:
        super().__init__(timeout)
        self.master_count = masters
        self.nodes: list[RedisProcess] = []

    def __enter__(self) -> ClusterGroup:
        try:
            for _ in range(self.master_count):
                self.nodes.append(self._started(RedisProcess(
                    args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                          "--cluster-node-timeout", "5000"],
                    pick_port=cluster_port)))
            subprocess.run(["redis-cli", "--cluster", "create",
                            *(f"127.0.0.1:{n.port}" for n in self.nodes), "--cluster-yes"],
                           stdin=subprocess.DEVNULL, capture_output=True, check=True,
                           timeout=self.timeout)
            self._wait(self._ok, "cluster_state:ok on every node")
        except BaseException:
            self._stack.close()
            raise
        return self

    @property
    def url(self) -> str:
        """``redis+cluster://`` naming every node (any one would do)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def _ok(self) -> bool:
        for node in self.nodes:
            with probe(node.port) as client:
                if client.cluster("info")["cluster_state"] != "ok":
                    return False
        return True


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above) is free too, and below 65,536."""
    for _ in range(200):
        port = free_port()
        if port + CLUSTER_BUS_OFFSET < 65_536 and _free(port + CLUSTER_BUS_OFFSET):
            return port
    raise RuntimeError("found no free port with a free cluster bus port above it")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _role(node: RedisProcess) -> str:
    with probe(node.port) as client:
        return str(client.info("replication")["role"])


def _following(replica: RedisProcess, master: RedisProcess) -> bool:
    """Whether ``replica`` is linked to ``master`` and in sync."""
    with probe(replica.port) as client:
        info = client.info("replication")
    return bool(info.get("role") == "slave" and int(info.get("master_port", 0)) == master.port
                and info.get("master_link_status") == "up")
