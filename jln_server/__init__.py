"""jln_server: the Jupyter server extension that pushes notifications to JupyterLab."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import JLN

    return [{"module": "jln_server", "app": JLN}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where ``jupyter labextension develop`` finds the built frontend."""
    return [{"src": "labextension", "dest": "jln-labextension"}]
