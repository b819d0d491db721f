"""The latency distribution of every latency row of a run, drawn into one PNG beside the JSON.

One panel per suite, one horizontal box per row, on a log scale in milliseconds: the box spans
p25 to p75 with a line at p50, the whiskers reach p1 and p99, and a cross marks the maximum.
Rows come from ``Result.samples``; a row without samples is not drawn. matplotlib is imported
here only, so a run without it still prints and writes its figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .results import Result

_ROW_INCHES = 0.32
_WIDTH_INCHES = 12.0


def write_png(path: Path, results: Sequence[Result]) -> bool:
    """Draw the rows of ``results`` that carry samples into ``path``; False if none does.
    Raises ``ImportError`` without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed, none assumed
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.samples]
    if not rows:
        return False
    suites = list(dict.fromkeys(r.suite for r in rows))
    sizes = [sum(r.suite == suite for r in rows) for suite in suites]
    figure, axes = plt.subplots(
        len(suites), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": sizes},
        figsize=(_WIDTH_INCHES, 1.0 + _ROW_INCHES * len(rows) + 0.6 * len(suites)))
    labels = dict(zip(map(id, rows), _labels(rows), strict=True))
    for axis, suite in zip(axes[:, 0], suites, strict=True):
        mine = [r for r in rows if r.suite == suite]
        milliseconds = [[s * 1000 for s in r.samples] for r in mine]
        positions = list(range(1, len(mine) + 1))
        axis.boxplot(milliseconds, positions=positions, orientation="horizontal", whis=(1, 99),
                     showfliers=False, widths=0.6)
        axis.scatter([max(m) for m in milliseconds], positions, marker="x", s=16, color="C3")
        axis.set_yticks(positions, [labels[id(r)] for r in mine], fontsize=8)
        axis.invert_yaxis()  # the suite's first row on top, as in the table
        axis.set_xscale("log")
        axis.grid(axis="x", which="both", alpha=0.3)
        axis.set_title(suite, loc="left", fontsize=10)
    axes[-1, 0].set_xlabel("latency, ms (log scale): box p25-p75, line p50, "
                           "whiskers p1-p99, x max")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _labels(rows: Sequence[Result]) -> list[str]:
    """``name (target)``, and where rows share both, the first setting that tells them apart
    (say ``size=10,000``)."""
    labels = []
    for row in rows:
        twins = [r for r in rows if (r.suite, r.name, r.target) == (row.suite, row.name,
                                                                    row.target)]
        differing = [f"{key}={_value(value)}" for key, value in row.params.items()
                     if any(t.params.get(key) != value for t in twins)]
        labels.append(" ".join([f"{row.name} ({row.target})", *differing[:1]]))
    return labels


def _value(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
