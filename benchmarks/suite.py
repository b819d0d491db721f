"""What every suite gets from ``run.py``: the private Redis it started, the size of the run and a
way to say what it is doing. A new suite (say, WebSocket fan-out through the server) is a module
with ``run(context) -> list[Result]``, added to ``run.py``'s ``SUITES``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .results import Result


def _to_stderr(line: str) -> None:
    print(f"  .. {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Context:
    """``redis_url`` points at the benchmark's own redis-server; ``quick`` asks for a short run;
    ``artifacts``, if set, is where a suite may leave files worth a look (the server's logs)."""

    redis_url: str
    quick: bool = False
    progress: Callable[[str], None] = field(default=_to_stderr)
    artifacts: Path | None = None


Suite = Callable[[Context], list[Result]]
