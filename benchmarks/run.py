"""Run the JLN benchmarks: ``python benchmarks/run.py [--quick] [--suite NAME] [--out FILE]``.

Starts a private redis-server (free port on 127.0.0.1, temporary directory), runs each suite
against it (the server suite starts its own Jupyter servers the same way), prints a table,
writes the figures as JSON and the latency distributions as a PNG beside it, and with
``--readme`` rewrites the README's benchmark section. Nothing outside this machine's loopback
is contacted (but PyPI, once, for the peer suite's virtualenv), and every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` and ``jln_broker`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks import (  # noqa: E402
    broker,
    inbox,
    peer,
    plot,
    readme,
    report,
    scaling,
    server,
    storm,
)
from benchmarks.redis_process import RedisProcess  # noqa: E402
from benchmarks.results import Result  # noqa: E402
from benchmarks.suite import Context, Suite  # noqa: E402

SUITES: dict[str, Suite] = {"broker": broker.run, "inbox": inbox.run, "peer": peer.run,
                            "scaling": scaling.run, "server": server.run, "storm": storm.run}
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller counts: a smoke run of well under a minute")
    parser.add_argument("--out", type=Path,
                        help=f"JSON report path (default: {RESULTS.relative_to(ROOT)}/"
                             "<suites>.json, e.g. broker-server.json)")
    parser.add_argument("--suite", choices=sorted(SUITES), action="append",
                        help="run only this suite (repeatable; default: all)")
    parser.add_argument("--redis-server", default="redis-server",
                        help="the redis-server executable to start (default: from PATH)")
    parser.add_argument("--readme", action="store_true",
                        help="after the run, rewrite the benchmark section of README.md")
    parser.add_argument("--readme-from", type=Path, metavar="REPORT",
                        help="rewrite README.md's benchmark section from this JSON report, "
                             "and run nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.readme_from:
        return _readme(args.readme_from)
    args.suite = sorted(set(args.suite or SUITES))
    args.out = args.out or RESULTS / f"{'-'.join(args.suite)}.json"
    started = time.monotonic()
    try:
        meta, results = _run_suites(args)
    except RuntimeError as err:  # redis-server missing or not starting: say so, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    meta["duration_s"] = round(time.monotonic() - started, 2)
    meta["load_average_end"] = os.getloadavg()
    print(report.table(results), flush=True)
    report.write_json(args.out, meta, results)
    loads = " -> ".join(f"{meta[k][0]:.2f}" for k in ("load_average", "load_average_end"))
    print(f"\n{len(results)} results in {meta['duration_s']} s (load average {loads}); "
          f"JSON: {args.out}", file=sys.stderr)
    _plot(args.out.with_suffix(".png"), results)
    return _readme(args.out) if args.readme else 0


def _plot(path: Path, results: list[Result]) -> None:
    try:
        drawn = plot.write_png(path, results)
    except ImportError:
        print("no plot: matplotlib is not installed (pip install -e '.[bench]')",
              file=sys.stderr)
        return
    print(f"plot: {path}" if drawn else "no plot: no latency rows", file=sys.stderr)


def _readme(report_path: Path) -> int:
    try:
        document = json.loads(report_path.read_text())
        readme.rewrite(README, document, _shown_path(report_path))
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: README not rewritten: {err}", file=sys.stderr)
        return 2
    print(f"README.md: benchmark section rewritten from {report_path}", file=sys.stderr)
    return 0


def _shown_path(path: Path) -> str:
    """The report's path as the README names it: relative to the checkout when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path.name


def _run_suites(args: argparse.Namespace) -> tuple[dict[str, Any], list[Result]]:
    """Every chosen suite against one private redis-server, stopped whatever happens."""
    with RedisProcess(args.redis_server) as redis_server:
        context = Context(redis_server.url, quick=args.quick, artifacts=args.out.parent)
        version = redis_server.version()
        print(f"redis-server {version} on port {redis_server.port}", file=sys.stderr)
        meta = _meta(args, version)
        results: list[Result] = []
        durations: dict[str, float] = {}
        for name in args.suite:
            started = time.monotonic()
            results.extend(SUITES[name](context))
            durations[name] = round(time.monotonic() - started, 2)
            print(f"suite {name}: {durations[name]} s", file=sys.stderr)
        meta["suite_durations_s"] = durations
    return meta, results


def _meta(args: argparse.Namespace, redis_version: str) -> dict[str, Any]:
    """Enough about the run to compare two reports fairly."""
    return {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "suites": args.suite,
        "redis_server": redis_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average": os.getloadavg(),  # others' work on the machine skews every figure
        "packages": {name: _version(name) for name in ("redis", "fakeredis", "msgpack",
                                                       "tornado", "jupyter_server")},
    }


def _cpu_model() -> str:
    """``model name`` of ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
