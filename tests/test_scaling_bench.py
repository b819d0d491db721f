"""The scaling benchmark's harness, small: every wake-up it compares must deliver each
notification to every reader of its stream exactly once, or its figures mean nothing."""

from __future__ import annotations

from benchmarks import scaling
from benchmarks.results import Result
from benchmarks.scaling_readers import WAKEUPS

TINY = scaling.Scale(sizes=(4, 12), seconds=0.6, warmup=0.2, rate=20)


def figures(row: Result) -> dict[str, float]:
    return {f.name: f.value for f in row.figures}


def test_every_wakeup_delivers_each_notification_once_to_each_reader(redis_url: str) -> None:
    rows = scaling.measure(redis_url, TINY, lambda line: None)
    runs = {r.name: figures(r) for r in rows if "servers" in r.params}
    assert sorted(runs) == sorted(f"{w}: {n} servers" for w in WAKEUPS for n in TINY.sizes)
    for name, got in runs.items():
        assert (got["lost"], got["duplicated"]) == (0, 0), name
        assert got["redis cpu"] > 0 and got["reads"] > 0, name
        assert 0 < got["p50"] <= got["p99"] < 5_000, name
    # With 12 servers, 1 in 20 notifications goes to every one of them: shared reads are fewer.
    assert runs["shared: 12 servers"]["reads"] < runs["xread: 12 servers"]["reads"]
    estimates = [r for r in rows if r.name.endswith("one Redis core full at")]
    assert len(estimates) == len(WAKEUPS)
