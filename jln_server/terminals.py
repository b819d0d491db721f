"""Which of this server's terminals a publisher runs in, for its return address.

``jln send`` typed in a JupyterLab terminal (or a job started there) sends its process ancestry
in the ``X-JLN-Ancestry`` header; one of those pids is the terminal's shell, which the server
started (jupyter_server_terminals' manager keeps each named terminal's ``ptyproc``). A
notification without a ``source`` then gets ``{"kind": "terminal", "name": ...}``.

A convenience, not a security property: the pids are the client's word, so a client can name
any terminal of this server as its return address (never one that does not exist). The address
only decides what "Open terminal" opens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jln_broker.discovery import MAX_ANCESTORS
from jln_broker.errors import ValidationError
from jln_broker.http import ANCESTRY_HEADER
from jln_broker.model import Limits, validate_source

_PID = re.compile(r"[1-9][0-9]{0,9}")


def parse_ancestry(header: str | None) -> list[int]:
    """The header's pids: up to ``MAX_ANCESTORS`` decimal numbers, comma-separated."""
    if header is None:
        return []
    parts = [part.strip() for part in header.split(",")]
    if len(parts) > MAX_ANCESTORS or not all(_PID.fullmatch(part) for part in parts):
        raise ValidationError(ANCESTRY_HEADER, f"must be 1 to {MAX_ANCESTORS} process ids "
                                               f"separated by commas, not {header[:80]!r}")
    return [int(part) for part in parts]


class Terminals:
    """This server's terminals, looked up when asked: jupyter_server_terminals may load after
    us, or not at all."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = settings

    def named_by_shell(self) -> dict[int, str]:
        """Each running terminal's name, by the pid of its shell."""
        manager = self._settings.get("terminal_manager")
        terminals = getattr(manager, "terminals", None)
        if not isinstance(terminals, Mapping):
            return {}
        found = {}
        for name, terminal in list(terminals.items()):
            pid = getattr(getattr(terminal, "ptyproc", None), "pid", None)
            if isinstance(pid, int) and isinstance(name, str):
                found[pid] = name
        return found

    def source_for(self, ancestry: list[int], limits: Limits) -> dict[str, str] | None:
        """The return address of the nearest terminal among ``ancestry``, or None (no terminal
        there, or one whose name a source cannot hold)."""
        if not ancestry:
            return None
        shells = self.named_by_shell()
        name = next((shells[pid] for pid in ancestry if pid in shells), None)
        if name is None:
            return None
        source = {"kind": "terminal", "name": name}
        try:
            validate_source(source, limits)
        except ValidationError:
            return None
        return source
