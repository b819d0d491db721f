"""Run the JLN benchmarks: ``python benchmarks/run.py [--quick] [--suite NAME] [--out FILE]``.

Starts a private redis-server (free port on 127.0.0.1, temporary directory), runs each suite
against it (the server suite starts its own Jupyter servers the same way), prints a table and
writes the figures as JSON. Nothing outside this machine's loopback is contacted, and every loop
is bounded.
"""

from __future__ import annotations

import argparse
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

from benchmarks import broker, inbox, report, scaling, server, storm  # noqa: E402
from benchmarks.redis_process import RedisProcess  # noqa: E402
from benchmarks.results import Result  # noqa: E402
from benchmarks.suite import Context, Suite  # noqa: E402

SUITES: dict[str, Suite] = {"broker": broker.run, "inbox": inbox.run, "server": server.run,
                            "storm": storm.run, "scaling": scaling.run}
RESULTS = ROOT / "benchmarks" / "results"


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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
    return 0


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
        "redis_server": redis_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),  # others' work on the machine skews every figure
        "packages": {name: _version(name) for name in ("redis", "fakeredis", "msgpack",
                                                       "tornado", "jupyter_server")},
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
