"""The two outputs of a run: a plain-text table for people and a JSON file for tools (and for
comparing runs)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .results import Figure, Result

_HEADERS = ("measurement", "target", "result", "settings")


def table(results: Sequence[Result]) -> str:
    """Aligned columns; a row's note (say, messages that never arrived) goes on its own line."""
    rows = [(r.name, r.target, _figures(r.figures), _params(r.params)) for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(_HEADERS)]
    lines = [_line(_HEADERS, widths), _line(tuple("-" * w for w in widths), widths)]
    for result, row in zip(results, rows, strict=True):
        lines.append(_line(row, widths))
        if result.note:
            lines.append(f"    ! {result.note}")
    return "\n".join(lines)


def write_json(path: Path, meta: Mapping[str, Any], results: Sequence[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": dict(meta), "results": [r.as_dict() for r in results]}
    path.write_text(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")


def number(value: float) -> str:
    """Few digits, but enough: 12,345 / 45.2 / 0.314."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.001 else f"{value:.2e}"


def _figures(figures: Sequence[Figure]) -> str:
    return "  ".join(f"{f.name} {number(f.value)} {f.unit}" if f.name not in ("rate", "time")
                     else f"{number(f.value)} {f.unit}" for f in figures)


def _params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_param(v)}" for k, v in params.items() if not k.endswith("_bytes"))


def _param(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else number(value)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _finite(value: Any) -> Any:
    """Infinity and NaN are not JSON: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
