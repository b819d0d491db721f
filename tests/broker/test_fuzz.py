"""A short, bounded coverage-guided fuzz run of entry decoding (``fuzz/entries.py``, atheris),
both stream entry forms. libFuzzer runs in its own process: a crash there is a failure here,
with the input it left and libFuzzer's report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "fuzz" / "entries.py"
RUNS = 100_000
SECONDS = 25
"""Whichever comes first: ~4 s here for the runs; the time bounds a busy machine."""
LEAST = 5_000
"""Fewer inputs than this would not be a fuzz run worth the name."""


@pytest.mark.timeout(SECONDS + 60)
def test_no_entry_of_either_form_crashes_decoding(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), f"-runs={RUNS}", f"-max_total_time={SECONDS}",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=SECONDS + 45, cwd=tmp_path)
    report = done.stderr
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert done.returncode == 0 and not crashes, f"{crashes}\n{report[-4000:]}"
    runs = int(re.search(r"Done (\d+) runs", report).group(1))  # type: ignore[union-attr]
    covered = [int(c) for c in re.findall(r"cov: (\d+)", report)]
    seeds, coverage = covered[0], covered[-1]
    print(f"atheris: {runs} entries decoded, {seeds} edges covered by the seeds, {coverage} "
          "in the end")
    assert runs >= LEAST
    assert coverage > seeds  # the run found paths the valid seeds do not take
