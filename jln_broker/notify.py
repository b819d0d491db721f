"""``notify()``: one call from a notebook, a script or a job, no configuration.

In a kernel or terminal of a Jupyter server running jln_server, the notification goes to that
server's user through the server itself (``$JLN_SERVER_URL`` with its owner token), whatever
broker it uses; elsewhere the publisher's usual discovery applies. From a kernel, it carries its
return address: the notebook's path (relative to the server root) and the executing cell's id.

It blocks (a plain HTTP request or a Redis call) and never touches an event loop, so it is safe
in a notebook where ipykernel's loop is already running. IPython is never imported here: the
kernel is looked up only if it is already loaded.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import PurePath
from typing import Any

from .discovery import SERVER_ROOT_ENV
from .publisher import Publisher

SESSION_ENV = "JPY_SESSION_NAME"
"""Set by jupyter_server for a kernel started with a session: the notebook's absolute path (or
its API path when the session had no name)."""

_lock = threading.Lock()
_publisher: Publisher | None = None


def notify(message: str, *, type: str = "info", title: str | None = None,
           source: dict[str, Any] | None = None, publisher: Publisher | None = None,
           **fields: Any) -> list[str]:
    """Publish one notification and return its ids.

    ``fields`` are the publisher's (``key=``, ``link=``, ``auto_close=``, ``users=``, ...).
    ``source`` defaults to this kernel's notebook and cell, when known; pass ``{}`` to send
    none. With no audience named, the owner token's server addresses it to its user.
    """
    found = kernel_source() if source is None else source
    if found:
        fields["source"] = found
    if title is not None:
        fields["title"] = title
    return (publisher or default_publisher()).publish(message, type=type, **fields)


def default_publisher() -> Publisher:
    """One publisher per process, made on first use (discovery runs once)."""
    global _publisher
    with _lock:
        if _publisher is None:
            _publisher = Publisher()
        return _publisher


def kernel_source(cell_id: str | None = None) -> dict[str, Any] | None:
    """This kernel's return address: ``{"kind": "notebook", "path", "cellId"}``, the cell
    being the one executing now unless given; None outside a notebook's kernel."""
    path = notebook_path()
    if path is None:
        return None
    found: dict[str, Any] = {"kind": "notebook", "path": path}
    cell_id = cell_id or executing_cell_id()
    if cell_id:
        found["cellId"] = cell_id
    return found


def notebook_path(env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The notebook of this kernel's session, relative to the server root (``/`` separated),
    or None when it is not known (no session, or a notebook outside the root)."""
    session = env.get(SESSION_ENV)
    if not session or not session.endswith(".ipynb"):
        return None
    path = PurePath(session)
    if path.is_absolute():
        root = env.get(SERVER_ROOT_ENV)
        if not root:
            return None
        try:
            path = path.relative_to(root)
        except ValueError:
            return None
    return path.as_posix()


def executing_cell_id() -> str | None:
    """The id of the cell the kernel is executing, as the front end sent it (the request's
    ``cellId`` metadata); None outside an IPython kernel or without one."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    kernel = getattr(shell, "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)
    if get_parent is None:
        return None
    try:
        parent = get_parent("shell")
    except TypeError:  # older ipykernel: no channel argument
        parent = get_parent()
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
    return cell_id if isinstance(cell_id, str) and cell_id else None
