"""The benchmark section of the project's README, rewritten from a run's report.

``python benchmarks/run.py --readme`` (after a run) or ``--readme-from FILE.json`` (from a report
already written) replaces what lies between the two markers below with a compact table of the
headline rows (``HEADLINES``) and the machine the figures came from. A row in ``HEADLINES``
that the report lacks (its suite did not run) is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import number

START = "<!-- benchmarks:start: written by `python benchmarks/run.py --readme`; edits are lost -->"
END = "<!-- benchmarks:end -->"


@dataclass(frozen=True)
class Headline:
    """Rows of ``suite`` whose name starts with ``name`` (and whose settings hold ``params``),
    shown with the figures named in ``figures``, the settings named in ``told`` after the
    name (what tells rows of one name apart)."""

    suite: str
    name: str
    figures: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    told: tuple[str, ...] = ()


HEADLINES = (
    Headline("peer", "ratio of ingest rates", ("ratio",)),
    Headline("peer", "ingest side by side: POST", ("rate",)),
    Headline("server", "ingest: POST", ("rate",)),
    Headline("broker", "publish: publish", ("rate",)),
    Headline("broker", "latency:", ("p50", "p99")),
    Headline("server", "latency: publish ->", ("p50", "p99")),
    Headline("server", "memory: server RSS, ", ("per client",)),
    Headline("storm", "resume storm", ("last whole", "lost", "duplicated"), told=("reconnect",)),
    Headline("scaling", "xread: 1,000 servers", ("p50", "p99", "redis cpu", "lost")),
    Headline("scaling", "shared: 1,000 servers", ("p50", "p99", "redis cpu", "lost")),
    Headline("scaling", "xread: one Redis core full at", ("servers",)),
    Headline("inbox", "first page, a new text each time", ("p99",), told=("size",)),
    Headline("inbox", "unread count", ("p99",), told=("size",)),
)


def section(document: Mapping[str, Any], report_name: str) -> str:
    """The section's text between the markers: the machine, then the table."""
    meta = document["meta"]
    lines = [_machine(meta, report_name), "",
             "| measurement | target | result | note |", "| --- | --- | --- | --- |"]
    for headline in HEADLINES:
        for row in document["results"]:
            shown = _shown(headline, row)
            if shown:
                note = row["note"].replace("|", "/")
                told = ", ".join(f"{k} {_setting(row['params'][k])}" for k in headline.told
                                 if k in row["params"])
                name = f"{row['name']} ({told})" if told else row["name"]
                lines.append(f"| {name} | {row['target']} | {shown} | {note} |")
    return "\n".join(lines)


def rewrite(readme: Path, document: Mapping[str, Any], report_name: str) -> None:
    """Replace the text between ``START`` and ``END`` in ``readme``; both must be there."""
    text = readme.read_text()
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise RuntimeError(f"{readme} needs the markers {START!r} and {END!r}, once each")
    before, rest = text.split(START)
    after = rest.split(END)[1]
    readme.write_text(f"{before}{START}\n{section(document, report_name)}\n{END}{after}")


def _shown(headline: Headline, row: Mapping[str, Any]) -> str:
    """The row's chosen figures as text, or "" when the headline does not select the row."""
    if row["suite"] != headline.suite or not row["name"].startswith(headline.name):
        return ""
    if any(row["params"].get(k) != v for k, v in headline.params.items()):
        return ""
    figures = {f["name"]: f for f in row["figures"]}
    return "  ".join(_figure(figures[name]) for name in headline.figures if name in figures)


def _setting(value: Any) -> str:
    return number(value) if isinstance(value, (int, float)) else str(value)


def _figure(figure: Mapping[str, Any]) -> str:
    value = "n/a" if figure["value"] is None else number(figure["value"])
    text = f"{value} {figure['unit']}".strip()
    return text if figure["name"] in ("rate", "ratio") else f"{figure['name']} {text}"


def _machine(meta: Mapping[str, Any], report_name: str) -> str:
    load = meta.get("load_average") or [None]
    load_end = meta.get("load_average_end") or [None]
    packages: Mapping[str, Any] = meta.get("packages", {})
    return (f"Measured {meta.get('started_at', '?')} on {meta.get('cpu_model') or 'an unknown CPU'}"
            f", {meta.get('cpus', '?')} cores, Python {meta.get('python', '?')}, "
            f"redis-server {meta.get('redis_server', '?')}, jupyter_server "
            f"{packages.get('jupyter_server', '?')}; load average {_load(load[0])} at the start, "
            f"{_load(load_end[0])} at the end{'; a `--quick` run' if meta.get('quick') else ''}. "
            f"Suites: {', '.join(meta.get('suites', [])) or '?'}. From `{report_name}`; "
            "`benchmarks/README.md` says how each row is measured.")


def _load(value: Any) -> str:
    return "?" if value is None else f"{value:.2f}"

