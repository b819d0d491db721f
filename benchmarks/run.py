"""Run the JLN benchmarks: ``python benchmarks/run.py [--quick] [--out FILE]``.

Starts a private redis-server (free port on 127.0.0.1, temporary directory), runs each suite
against it, prints a table and writes the figures as JSON. Nothing outside this machine's
loopback is contacted, and every loop is bounded.
"""

from __future__ import annotations

import argparse
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

from benchmarks import broker, report  # noqa: E402
from benchmarks.redis_process import RedisProcess  # noqa: E402
from benchmarks.results import Result  # noqa: E402
from benchmarks.suite import Context, Suite  # noqa: E402

SUITES: dict[str, Suite] = {"broker": broker.run}
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "broker.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller counts: a smoke run of well under 30 seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"JSON report path (default: {DEFAULT_OUT.relative_to(ROOT)})")
    parser.add_argument("--suite", choices=sorted(SUITES), action="append",
                        help="run only this suite (repeatable; default: all)")
    parser.add_argument("--redis-server", default="redis-server",
                        help="the redis-server executable to start (default: from PATH)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        meta, results = _run_suites(args)
    except RuntimeError as err:  # redis-server missing or not starting: say so, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    meta["duration_s"] = round(time.monotonic() - started, 2)
    print(report.table(results), flush=True)
    report.write_json(args.out, meta, results)
    print(f"\n{len(results)} results in {meta['duration_s']} s; JSON: {args.out}", file=sys.stderr)
    return 0


def _run_suites(args: argparse.Namespace) -> tuple[dict[str, Any], list[Result]]:
    """Every chosen suite against one private redis-server, stopped whatever happens."""
    with RedisProcess(args.redis_server) as server:
        context = Context(server.url, quick=args.quick)
        print(f"redis-server {server.version()} on port {server.port}", file=sys.stderr)
        meta = _meta(args, server.version())
        results: list[Result] = []
        for name in args.suite or sorted(SUITES):
            results.extend(SUITES[name](context))
    return meta, results


def _meta(args: argparse.Namespace, redis_version: str) -> dict[str, Any]:
    """Enough about the run to compare two reports fairly."""
    return {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "redis_server": redis_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in ("redis", "fakeredis", "msgpack")},
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
