"""Inbox suite: one user's inbox of 10,000, then 100,000 notifications on real Redis.

The goal, at 10,000: the first page (50) with a text filter answers in under 50 ms at p99 and the
unread count in under 5 ms at p99; at 100,000 the suite shows how both grow. Each question is
asked in the library (``History`` over the private redis-server, the code the server runs) and
through a real Jupyter server over HTTP (token auth, the handler, JSON), with a text that
matches almost nothing (every page scans the whole inbox: the worst case), a text that matches
often, no filter, and a filtered count; the text page and the unread count also right after
one notification's read mark changed (nothing the view kept from the last request is valid
then). A share of the inbox is marked read through ``POST jln/api/notifications/state`` first,
so unread counts are not simply the total. Also: what jupyter_server alone costs a request
(``GET api/status``, and JLN's ``jln/api/status``), the server's time from start until its
history answers, and its RSS. Every loop is bounded by a count and every wait by a timeout.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import redis

from jln_broker import Publisher
from jln_broker.connection import async_client
from jln_broker.history import Change, Filters, History
from jln_broker.history.view import FOUND_KEPT
from jln_broker.protocol import StreamNames
from jln_broker.reader import Decoder

from .jupyter_process import JupyterProcess
from .results import Figure, Result, latency_figures
from .suite import Context

SUITE = "inbox"
USER = "bench"
RARE = "quota"  # one notification in 5,000 mentions it
COMMON = "finished"  # about one in four
NEW_TEXTS = tuple(COMMON[:n] for n in range(4, 9)) + tuple(COMMON[n:] for n in range(1, 5))
"""Nine texts all in the same notifications as ``COMMON``: more than ``FOUND_KEPT``."""
FILL_BATCH = 1_000
HISTORY_TIMEOUT = 120.0  # for a server's history of 100,000 to load
REQUEST_TIMEOUT = 60.0
GOAL_SIZE = 10_000
PAGE_GOAL_MS, COUNT_GOAL_MS = 50.0, 5.0
MB = 1_000_000
EXPECTED_IN_LOG = ("received signal 15",  # critical, but it is how the suite stops it
                   "503 GET /jln/api/notifications/count")  # asked while the history loads


@dataclass(frozen=True)
class Scale:
    """Inbox sizes, and how many times each question is asked at each (``FULL``: about
    2 1/2 minutes on 2 cores, ``QUICK``: about 20 s)."""

    sizes: tuple[int, ...]
    samples: tuple[int, ...]


FULL = Scale(sizes=(10_000, 100_000), samples=(300, 200))
QUICK = Scale(sizes=(2_000, 10_000), samples=(50, 50))


@dataclass(frozen=True)
class Question:
    """One request, in both forms: ``History`` filters and the REST query that means the
    same. ``goal_ms`` is the p99 it must stay under at ``GOAL_SIZE``, if it has one.
    ``after``: before each (untimed), ``"read"`` flips the newest notification's read mark
    (the view recounts what it kept), ``"dismissal"`` dismisses the next newest (what it kept
    no longer holds: the worst case). ``http_path``: a request of the server's alone, not asked
    in the library. ``texts``: each sample searches the next of these instead (more than the
    view keeps results for, so every one is a new search: a scan of the whole inbox)."""

    name: str
    count: bool
    filters: Filters
    query: dict[str, str]
    goal_ms: float | None = None
    after: str | None = None
    http_path: str | None = None
    texts: tuple[str, ...] = ()

    def asked(self, sample: int) -> Question:
        """The question as asked at ``sample``."""
        if not self.texts:
            return self
        text = self.texts[sample % len(self.texts)]
        return replace(self, filters=replace(self.filters, search=text),
                       query={**self.query, "search": text})

    def path(self) -> str:
        if self.http_path is not None:
            return self.http_path
        if self.count:
            return "/jln/api/notifications/count" + (f"?{urlencode(self.query)}"
                                                     if self.query else "")
        return f"/jln/api/notifications?{urlencode({**self.query, 'limit': '50'})}"


QUESTIONS = (
    Question(f"first page, rare text ({RARE!r})", False, Filters(search=RARE),
             {"search": RARE}, PAGE_GOAL_MS),
    Question(f"first page, common text ({COMMON!r})", False, Filters(search=COMMON),
             {"search": COMMON}, PAGE_GOAL_MS),
    Question("first page, no filter", False, Filters(), {}),
    Question("unread count", True, Filters(), {}, COUNT_GOAL_MS),
    Question("count, type=error", True, Filters(types=frozenset({"error"})),
             {"type": "error"}),
    Question(f"after a read change: first page, common text ({COMMON!r})", False,
             Filters(search=COMMON), {"search": COMMON}, PAGE_GOAL_MS, after="read"),
    Question("after a read change: unread count", True, Filters(), {}, COUNT_GOAL_MS,
             after="read"),
    Question(f"after a dismissal: first page, common text ({COMMON!r})", False,
             Filters(search=COMMON), {"search": COMMON}, PAGE_GOAL_MS, after="dismissal"),
    Question(f"first page, a new text each time ({len(NEW_TEXTS)} parts of {COMMON!r})", False,
             Filters(), {}, PAGE_GOAL_MS, texts=NEW_TEXTS),
    Question("jupyter_server alone: GET api/status", False, Filters(), {},
             http_path="/api/status"),
    Question("JLN's status: GET jln/api/status", False, Filters(), {},
             http_path="/jln/api/status"),
)
MARK_READ = ({"topic": "deploy"}, {"type": ["info"]})
"""Marked read, one mark-all each, before asking: together about 29 % of the inbox."""


def run(context: Context) -> list[Result]:
    """At each size: fill the stream, ask through a Jupyter server (which marks the share
    read), then in the library."""
    scale = QUICK if context.quick else FULL
    if len(NEW_TEXTS) <= FOUND_KEPT:
        raise RuntimeError("NEW_TEXTS must outnumber the results the view keeps (FOUND_KEPT)")
    results: list[Result] = []
    for size, samples in zip(scale.sizes, scale.samples, strict=True):
        context.progress(f"inbox: filling {size:,} notifications")
        fill(context.redis_url, size)
        context.progress(f"inbox: {size:,} through a Jupyter server")
        results.extend(through_server(context, size, samples))
        context.progress(f"inbox: {size:,} in the library")
        results.extend(asyncio.run(in_library(context.redis_url, size, samples)))
    return results


# --- the inbox ----------------------------------------------------------------------------

TYPES = ("info", "success", "warning", "error", "default", "in-progress")
TOPICS = ("training", "deploy", "backup", "review", "billing", "data", "security")
ORIGINS = ("ci", "scheduler", "ml-pipeline", "monitoring", "hub")
MESSAGES = (
    "Build {i} finished on runner {r}: 412 tests passed, 3 skipped.",
    "Nightly backup {i} copied 18.4 GB to cold storage in 7m 12s.",
    "Deployment {i} rolled out to staging; health checks green on {r} of 12 pods.",
    "Review requested on pull request #{i} by a teammate (5 files, +120 -38).",
    "Training run {i} finished: validation accuracy 0.97 after {r} epochs.",
    "Invoice {i} for the GPU pool is ready: 311 node-hours this month.",
    "Dataset snapshot {i} refreshed: 2.1 M rows, schema unchanged.",
    "Login from a new device for session {i}; if this was not you, rotate your token.",
)
RARE_MESSAGE = "Disk quota exceeded on /home/bench during job {i}: 100 % of 50 GB used."


def notification(i: int) -> dict[str, Any]:
    """Notification ``i`` of the user's stream: types, topics and origins cycle on coprime
    periods; half have a title, a third a link, every one a key of its own (nothing is
    superseded, so the inbox holds them all)."""
    template = RARE_MESSAGE if i % 5_000 == 4_999 else MESSAGES[i % len(MESSAGES)]
    fields: dict[str, Any] = {
        "message": template.format(i=i, r=i % 37), "type": TYPES[i % len(TYPES)],
        "topic": TOPICS[i % len(TOPICS)], "origin": ORIGINS[i % len(ORIGINS)],
        "key": f"item-{i}", "users": [USER]}
    if i % 2:
        fields["title"] = f"{TOPICS[i % len(TOPICS)].capitalize()} update"
    if i % 3 == 0:
        fields["link"] = f"https://ci.example.org/items/{i}"
    return fields


def fill(redis_url: str, size: int) -> None:
    """An empty Redis, then ``size`` notifications to the user's stream, ``publish_many`` a
    thousand at a time (the stream is capped at twice the size, so nothing is trimmed)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        client.flushall()
    finally:
        client.close()
    with Publisher(redis_url, maxlen=2 * size) as publisher:
        for start in range(0, size, FILL_BATCH):
            publisher.publish_many(notification(i)
                                   for i in range(start, min(size, start + FILL_BATCH)))


# --- through a Jupyter server ---------------------------------------------------------------

class Rest:
    """One keep-alive connection to the server, with its token."""

    def __init__(self, server: JupyterProcess) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port,
                                                     timeout=REQUEST_TIMEOUT)
        self.headers = {"Authorization": f"token {server.token}",
                        "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body).encode()
        self.connection.request(method, path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}: {data[:200]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.connection.close()


def through_server(context: Context, size: int, samples: int) -> list[Result]:
    """Start a server for the user, time its history load, mark the share read, ask every
    question ``samples`` times over one keep-alive connection."""
    args = (f"--JLN.user={USER}", f"--JLN.max_stream_length={2 * size}",
            "--JLN.ingest_rate_limit=0")
    params = {"size": size}
    started = time.perf_counter()
    with JupyterProcess(context.redis_url, args) as server:
        up = time.perf_counter() - started
        rest = Rest(server)
        try:
            ready = _until_loaded(rest, started)
            loaded_rss = server.rss()
            results = [_mark_read(rest, size)]
            newest, *doomed = _newest(rest, samples + 1)
            for question in QUESTIONS:
                timings, cpu = [], 0.0
                for sample in range(samples):
                    if question.after == "read":  # a real change every time
                        rest.json("POST", "/jln/api/notifications/state",
                                  {"ids": [newest["id"]], "read": newest["read"] == sample % 2})
                    elif question.after == "dismissal":
                        rest.json("POST", "/jln/api/notifications/state",
                                  {"ids": [doomed[sample]["id"]], "dismissed": True})
                    begun = server.cpu_seconds()
                    timings.append(_timed_get(rest, question.asked(sample).path()))
                    cpu += server.cpu_seconds() - begun
                results.append(_latency(question, "server", timings, cpu, size, samples))
            after_rss, peak_rss = server.rss(), server.peak_rss()
        finally:
            rest.close()
    log = _keep_log(context, size, server.log_text())
    results += [
        Result(SUITE, "server start -> status, -> count answers", "server",
               (Figure("status", up * 1000, "ms"), Figure("count", ready * 1000, "ms")),
               params, log),
        Result(SUITE, "server RSS: history loaded, after the questions", "server",
               (Figure("loaded", loaded_rss / MB, "MB"), Figure("after", after_rss / MB, "MB"),
                Figure("peak", peak_rss / MB, "MB")), params),
    ]
    return results


def _newest(rest: Rest, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` notifications of the inbox, a page of at most 200 at a time."""
    found: list[dict[str, Any]] = []
    query = {"limit": "200"}
    while len(found) < count:
        page = rest.json("GET", f"/jln/api/notifications?{urlencode(query)}")
        found += page["notifications"]
        if page["next"] is None:
            break
        query["cursor"] = page["next"]
    return found[:count]


def _until_loaded(rest: Rest, started: float) -> float:
    """Seconds from ``started`` until ``GET count`` first answers 200 (a request made while
    the history loads waits a few seconds, then answers 503)."""
    deadline = started + HISTORY_TIMEOUT
    while time.perf_counter() < deadline:
        status, body = rest.call("GET", "/jln/api/notifications/count")
        if status == 200:
            return time.perf_counter() - started
        if status != 503:
            raise RuntimeError(f"GET count answered {status}: {body[:200]!r}")
        time.sleep(0.05)
    raise RuntimeError(f"the server's history did not load within {HISTORY_TIMEOUT:g} s")


def _mark_read(rest: Rest, size: int) -> Result:
    """One ``{"all": true, "read": true, "filters": ...}`` per entry of ``MARK_READ``, timed,
    and the counts after them."""
    timings, updated = [], 0
    for filters in MARK_READ:
        begun = time.perf_counter()
        answer = rest.json("POST", "/jln/api/notifications/state",
                           {"all": True, "read": True, "filters": filters})
        timings.append(time.perf_counter() - begun)
        updated += answer["updated"]
    counts = rest.json("GET", "/jln/api/notifications/count")
    note = "" if 0 < counts["unread"] < counts["total"] == size else (
        f"counts after marking: {counts}, expected 0 < unread < total == {size}")
    return Result(SUITE, "mark all read under a filter (POST state)", "server",
                  tuple(Figure(f"#{n}", t * 1000, "ms") for n, t in enumerate(timings, 1)),
                  {"size": size, "marked": updated, "unread": counts["unread"],
                   "total": counts["total"]}, note)


def _timed_get(rest: Rest, path: str) -> float:
    """Seconds from sending the request until the whole answer is in (parsed afterwards and
    checked to be an answer, not an error)."""
    begun = time.perf_counter()
    status, body = rest.call("GET", path)
    elapsed = time.perf_counter() - begun
    if status != 200 or not isinstance(json.loads(body), dict):
        raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
    return elapsed


def _keep_log(context: Context, size: int, text: str) -> str:
    """Leave the server's log beside the report; a note if it holds errors or tracebacks
    (lines ending in ``{`` open the request headers jupyter_server logs with an error)."""
    name = f"inbox-{size}.log"
    if context.artifacts is not None:
        context.artifacts.mkdir(parents=True, exist_ok=True)
        (context.artifacts / name).write_text(text)
    troubled = [line for line in text.splitlines()
                if line.startswith(("[E ", "[C ", "Traceback")) and not line.endswith("] {")
                and not any(expected in line for expected in EXPECTED_IN_LOG)]
    return f"{len(troubled)} error lines in {name}: {troubled[0][:120]}" if troubled else ""


# --- in the library -------------------------------------------------------------------------

async def in_library(redis_url: str, size: int, samples: int) -> list[Result]:
    """A ``History`` as the server builds it, loaded from the same Redis (the state the server
    wrote included), asked each question ``samples`` times."""
    names = StreamNames()
    client = async_client(redis_url)
    history = History(client, names, USER, Decoder(keep_expired=True))
    try:
        begun = time.perf_counter()
        await history.load(names.audience(USER))
        loaded = time.perf_counter() - begun
        results = [Result(SUITE, "load the history (History.load)", "library",
                          (Figure("time", loaded * 1000, "ms"),), {"size": size})]
        newest, *doomed = (await history.page(Filters(), samples + 1, None)).items
        was_read = history.marks(newest.delivered).read
        for question in (q for q in QUESTIONS if q.http_path is None):
            timings, cpu = [], 0.0
            for sample in range(samples):
                if question.after == "read":
                    await history.change([newest.id], Change(read=was_read == sample % 2))
                elif question.after == "dismissal":
                    await history.change([doomed[sample].id], Change(dismissed=True))
                begun, begun_cpu = time.perf_counter(), time.process_time()
                if question.count:
                    await history.count(question.filters)
                else:
                    await history.page(question.asked(sample).filters, 50, None)
                timings.append(time.perf_counter() - begun)
                cpu += time.process_time() - begun_cpu
            results.append(_latency(question, "library", timings, cpu, size, samples))
    finally:
        await client.aclose()
    return results


def _latency(question: Question, target: str, seconds: Sequence[float], cpu: float,
             size: int, samples: int) -> Result:
    """p50/p95/p99/max, and the CPU the answering process spent per request (``cpu``: seconds
    over all samples), which other work on the machine does not inflate the way it does wall
    time; at ``GOAL_SIZE`` the goal goes in the settings, and a note if missed."""
    figures = (*latency_figures(seconds), Figure("cpu/req", cpu / len(seconds) * 1000, "ms"))
    params: dict[str, Any] = {"size": size, "samples": samples}
    note = ""
    if question.goal_ms is not None and size == GOAL_SIZE:
        params["goal_p99_ms"] = question.goal_ms
        p99 = next(f.value for f in figures if f.name == "p99")
        if p99 >= question.goal_ms:
            note = f"goal missed: p99 {p99:.1f} ms, goal under {question.goal_ms:g} ms"
    return Result(SUITE, question.name, target, figures, params, note, seconds)
