"""Peer suite: JLN's REST ingest side by side with the REST-polling extension it replaces.

Three servers run at once, each its own ``jupyter server`` with one extension: the peer
(``jupyterlab-notifications-extension`` from PyPI, in a scratch virtualenv, see
``peer_install.py``), JLN on ``memory://`` and JLN on the private Redis. Each round POSTs the same
number of the same notification (``workload.py``) to one server from 16 keep-alive connections;
rounds go peer, memory, redis, peer, ... so the machine's other work weighs on all three alike,
and each JLN round is divided by the peer round just before it: the ratio is the figure to read,
the absolute rates move by 2x between runs on a shared machine.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import peer_install, workload
from .jupyter_process import JupyterProcess, ServerProcess
from .rest import Posted, post_concurrently
from .results import Figure, Result
from .server import MEMORY_URL, SERVER_ARGS, ingest_checked
from .suite import Context

SUITE = "peer"
CONNECTIONS = 16
GOAL_RATIO = 1.5  # JLN's ingest against the peer's, each JLN target
ROW = f"ingest side by side: POST one notification, {CONNECTIONS} keep-alive connections"
RATIO_ROW = "ratio of ingest rates: JLN / REST-polling extension"


@dataclass(frozen=True)
class Scale:
    """``FULL`` takes about a minute here, ``QUICK`` about 15 s once the peer is installed."""

    posts: int  # a round, to one server
    rounds: int  # of each server


FULL = Scale(posts=3_000, rounds=5)
QUICK = Scale(posts=400, rounds=2)

Round = Callable[[Sequence[bytes]], tuple[Posted, str]]


@dataclass
class Target:
    """One server, how a round is POSTed to it (the answers checked: a note if any went
    wrong) and what its rounds gave."""

    name: str
    server: ServerProcess
    post: Round
    rounds: list[Posted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def rates(self) -> list[float]:
        return [len(p.statuses) / p.seconds for p in self.rounds]


def run(context: Context) -> list[Result]:
    scale = QUICK if context.quick else FULL
    python = peer_install.peer_python(context.progress)
    context.progress("starting the peer's server and JLN's two")
    with _servers(python, context.redis_url) as (peer, memory, redis):
        targets = [Target("peer", peer, _post_to_peer(peer)),
                   Target("memory", memory, _post_to_jln(memory)),
                   Target("redis", redis, _post_to_jln(redis))]
        for number in range(scale.rounds):
            bodies = [json.dumps({**workload.wire(i), "key": f"peer-{number}-{i}"}).encode()
                      for i in range(scale.posts)]
            for target in targets:
                context.progress(f"round {number + 1} of {scale.rounds}: {scale.posts:,} POSTs "
                                 f"to {target.name}")
                posted, note = target.post(bodies)
                target.rounds.append(posted)
                target.notes.extend(filter(None, [note]))
    _keep_logs(context, targets)
    return [*map(_rates, targets), *(_ratio(t, targets[0]) for t in targets[1:])]


@contextlib.contextmanager
def _servers(python: str, redis_url: str
             ) -> Iterator[tuple[ServerProcess, JupyterProcess, JupyterProcess]]:
    """The three servers, started at once (a start is mostly waiting on imports); every one
    that started is stopped on leaving, whatever happens."""
    peer = ServerProcess(peer_install.EXTENSION, python=python)
    memory, redis = JupyterProcess(MEMORY_URL, SERVER_ARGS), JupyterProcess(redis_url, SERVER_ARGS)
    servers = (peer, memory, redis)
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(servers)) as pool:
        starts = [pool.submit(server.__enter__) for server in servers]
        for server, start in zip(servers, starts, strict=True):
            if start.exception() is None:
                stack.push(server.__exit__)
        for start in starts:
            start.result()  # the first failure, after the others are in the stack
        yield peer, memory, redis


def _post_to_peer(server: ServerProcess) -> Round:
    warm_up = json.dumps(workload.wire(0)).encode()

    def post(bodies: Sequence[bytes]) -> tuple[Posted, str]:
        posted = post_concurrently(server, bodies, CONNECTIONS, warm_up, peer_install.INGEST)
        refused = posted.refused(200)
        return posted, f"answers other than 200: {refused}" if refused else ""

    return post


def _post_to_jln(server: JupyterProcess) -> Round:
    return lambda bodies: ingest_checked(server, bodies, CONNECTIONS)


def _rates(target: Target) -> Result:
    """The median round's rate, each round's, and the median CPU the server used (near 100 %:
    it was the bottleneck)."""
    rates = target.rates()
    return Result(
        SUITE, ROW, target.name, (Figure("rate", statistics.median(rates), "msg/s"),),
        {"messages": len(target.rounds[0].statuses), "rounds": len(rates),
         "round_rates": [round(r) for r in rates],
         "server_cpu_pct": _median_of(target.rounds, "server_cpu_pct"),
         "bench_cpu_pct": _median_of(target.rounds, "bench_cpu_pct")},
        "; ".join(dict.fromkeys(target.notes)))


def _ratio(target: Target, peer: Target) -> Result:
    """Each round of ``target`` over the peer's round just before it; the median of those."""
    ratios = [mine / theirs for mine, theirs in zip(target.rates(), peer.rates(), strict=True)]
    median = statistics.median(ratios)
    note = (f"goal missed: {median:.2f}x, goal at least {GOAL_RATIO:g}x"
            if median < GOAL_RATIO else "")
    return Result(SUITE, RATIO_ROW, target.name, (Figure("ratio", median, "x"),),
                  {"round_ratios": [round(r, 2) for r in ratios], "goal_ratio": GOAL_RATIO,
                   "peer": f"{peer_install.PACKAGE} {peer_install.RELEASE}"}, note)


def _median_of(rounds: Sequence[Posted], key: str) -> int:
    return round(statistics.median(p.cpu[key] for p in rounds))


def _keep_logs(context: Context, targets: Sequence[Target]) -> None:
    """Each server's log beside the report (``peer-peer.log``, ``peer-memory.log``, ...)."""
    if context.artifacts is None:
        return
    context.artifacts.mkdir(parents=True, exist_ok=True)
    for target in targets:
        (context.artifacts / f"peer-{target.name}.log").write_text(target.server.log_text())
