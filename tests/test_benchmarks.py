"""The benchmark harness's smoke run, kept in the test suite so it cannot rot: every suite runs
at its ``--quick`` size exactly as a person would run it, and the report it writes must hold
every suite's rows with figures that make sense and every notification delivered.

The full runs stay out of the tests: their figures are for people, on a quiet machine. The peer
suite installs the REST-polling extension from PyPI into a cached virtualenv the first time
(``~/.cache/jln-benchmarks``), so a clean machine needs PyPI once.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.peer import RATIO_ROW, ROW
from benchmarks.run import SUITES

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
QUICK_TIMEOUT = 900.0  # about 2-3 minutes; a first peer install may add up to 5
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DELIVERY_ROWS = ("latency:", "fan-out:", "ingest")  # a note on these means something was lost


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run([sys.executable, str(RUN), "--quick", "--out", str(out)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=QUICK_TIMEOUT)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text()), out


def figures(row: dict[str, Any]) -> dict[str, float]:
    return {f["name"]: f["value"] for f in row["figures"]}


@pytest.mark.timeout(QUICK_TIMEOUT + 60)
def test_quick_run_reports_every_suite_with_sane_figures(
        quick_run: tuple[dict[str, Any], Path]) -> None:
    document, _ = quick_run
    rows = document["results"]
    assert {row["suite"] for row in rows} == set(SUITES)
    assert document["meta"]["quick"] is True
    for row in rows:
        values = figures(row)
        where = f"{row['suite']}: {row['name']} ({row['target']})"
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in values.values()), where
        for name in ("rate", "ratio"):
            assert values.get(name, 1) > 0, where
        if "p50" in values and "max" in values:
            assert 0 < values["p50"] <= values["p99"] <= values["max"], where


@pytest.mark.timeout(QUICK_TIMEOUT + 60)
def test_quick_run_delivers_every_notification(quick_run: tuple[dict[str, Any], Path]) -> None:
    document, _ = quick_run
    for row in document["results"]:
        values, params = figures(row), row["params"]
        where = f"{row['suite']}: {row['name']} ({row['target']}): {row['note']}"
        if row["name"].startswith(DELIVERY_ROWS):
            assert row["note"] == "", where
        if "received" in params:
            assert params["received"] == params["messages"], where
        for lost in ("lost", "duplicated"):
            assert values.get(lost, 0) == 0, where


@pytest.mark.timeout(QUICK_TIMEOUT + 60)
def test_quick_run_compares_with_the_peer_and_draws_the_latencies(
        quick_run: tuple[dict[str, Any], Path]) -> None:
    document, out = quick_run
    peer = [row for row in document["results"] if row["suite"] == "peer"]
    assert {(row["name"], row["target"]) for row in peer} == {
        (ROW, "peer"), (ROW, "memory"), (ROW, "redis"), (RATIO_ROW, "memory"),
        (RATIO_ROW, "redis")}
    for row in peer:
        rounds = row["params"].get("round_rates") or row["params"]["round_ratios"]
        assert len(rounds) >= 2 and all(r > 0 for r in rounds)
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert png.stat().st_size > 10_000  # a drawing, not an empty canvas
