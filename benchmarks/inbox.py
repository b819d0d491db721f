"""The inbox on real Redis: the first page with a text filter and the unread count, with 10,000
and 100,000 notifications in one user's inbox (goals at 10,000: page p99 < 50 ms, count p99 < 5
ms), measured in the library (``History``) and through a Jupyter server's REST API."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from jln_broker.connection import async_client
from jln_broker.history import Change, Filters, History
from jln_broker.protocol import StreamNames
from jln_broker.publisher import AsyncPublisher
from jln_broker.reader import Decoder

from .jupyter_process import JupyterProcess
from .results import Figure, Result, latency_figures
from .suite import Context

USER = "bench"
RARE = "zz-never-there"  # the worst case: the page scans the whole inbox
TYPES = ("info", "success", "warning", "error")


@dataclass(frozen=True)
class Scale:
    sizes: tuple[int, ...]
    samples: int


FULL = Scale((10_000, 100_000), 300)
QUICK = Scale((2_000, 10_000), 50)


def run(context: Context) -> list[Result]:
    scale = QUICK if context.quick else FULL
    results: list[Result] = []
    for size in scale.sizes:
        context.progress(f"inbox: filling {size:,} notifications")
        redis.Redis.from_url(context.redis_url).flushall()
        asyncio.run(_fill(context.redis_url, size))
        results.extend(asyncio.run(_library(context.redis_url, size, scale.samples)))
        context.progress(f"inbox: through a Jupyter server, {size:,}")
        results.extend(_through_server(context.redis_url, size, scale.samples))
    return results


async def _fill(url: str, size: int) -> None:
    async with AsyncPublisher(url, maxlen=size * 2) as publisher:
        for start in range(0, size, 1000):
            await publisher.publish_many([
                {"message": f"build {i} finished on node {i % 37}", "type": TYPES[i % 4],
                 "topic": f"topic-{i % 5}", "origin": f"ci-{i % 3}", "users": [USER]}
                for i in range(start, min(size, start + 1000))])


async def _library(url: str, size: int, samples: int) -> list[Result]:
    history = History(async_client(url), StreamNames(), USER, Decoder(keep_expired=True))
    started = time.perf_counter()
    await history.load(StreamNames().audience(USER))
    loaded = time.perf_counter() - started
    await history.change(None, Change(read=True), Filters(topic="topic-1"))
    questions: dict[str, Callable[[], Any]] = {
        "first page, rare text": lambda: history.page(Filters(search=RARE), 50, None),
        "first page, common text": lambda: history.page(Filters(search="node 3"), 50, None),
        "unread count": lambda: history.count(Filters()),
        "count of errors": lambda: history.count(Filters(types=frozenset({"error"}))),
    }
    results = []
    for name, ask in questions.items():
        timings = []
        for _ in range(samples):
            begun = time.perf_counter()
            await ask()
            timings.append(time.perf_counter() - begun)
        results.append(Result("inbox", name, "library", latency_figures(timings),
                              {"size": size, "samples": samples}))
    await history.client.aclose()
    results.append(Result("inbox", "load history", "library",
                          (Figure("time", loaded * 1000, "ms"),), {"size": size}))
    return results


def _through_server(url: str, size: int, samples: int) -> list[Result]:
    args = [f"--JLN.user={USER}", f"--JLN.max_stream_length={size * 2}"]
    started = time.perf_counter()
    with JupyterProcess(url, args) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {"Authorization": f"token {server.token}"}

        def get(path: str) -> Any:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
            return json.loads(body)

        while True:  # the first count answers once the history is loaded
            try:
                get("/jln/api/notifications/count")
                break
            except RuntimeError:
                time.sleep(0.05)
        ready = time.perf_counter() - started
        rss = server.rss()
        paths = {"first page, rare text": f"/jln/api/notifications?limit=50&search={RARE}",
                 "unread count": "/jln/api/notifications/count"}
        results = []
        for name, path in paths.items():
            timings = []
            for _ in range(samples):
                begun = time.perf_counter()
                get(path)
                timings.append(time.perf_counter() - begun)
            results.append(Result("inbox", name, "server", latency_figures(timings),
                                  {"size": size, "samples": samples}))
        connection.close()
    results.append(Result("inbox", "start to first answer, server RSS", "server",
                          (Figure("time", ready * 1000, "ms"), Figure("rss", rss / 2**20, "MiB")),
                          {"size": size}))
    return results
