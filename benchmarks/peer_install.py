"""The REST-polling extension JLN replaces, ``jupyterlab-notifications-extension`` from PyPI,
installed once into a scratch virtualenv for the peer suite.

The virtualenv lives under ``~/.cache/jln-benchmarks/`` (``$XDG_CACHE_HOME`` if set) and is
reused while it matches: same release, same Python, same pins. It gets the jupyter_server and
tornado versions this environment runs, so both servers stand on the same framework and the
suite's ratio compares the two extensions, not two releases of jupyter_server.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

PACKAGE = "jupyterlab-notifications-extension"
RELEASE = "1.2.29"
EXTENSION = "jupyterlab_notifications_extension"  # its server extension module
INGEST = "/jupyterlab-notifications-extension/ingest"  # token auth, 200 with its id
INSTALL_TIMEOUT = 300.0  # a fresh install fetches about 60 packages from PyPI
_READY = "jln-ready.json"  # written last: a virtualenv half made is never reused


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jln-benchmarks"


def peer_python(progress: Callable[[str], None]) -> str:
    """The interpreter of the peer's virtualenv, made first if missing or stale; one process at
    a time makes it (a lock file beside it). Raises ``RuntimeError`` saying why it could not."""
    venv = cache_dir() / f"peer-{RELEASE}"
    python = venv / "bin" / "python"
    requirements = _requirements()
    wanted = {"python": sys.version, "requirements": requirements}
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f"peer-{RELEASE}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _recorded(venv) == wanted:
            return str(python)
        progress(f"installing {PACKAGE}=={RELEASE} into {venv} (once; up to "
                 f"{INSTALL_TIMEOUT:g} s)")
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], "create the virtualenv")
        _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
              "--quiet", *requirements], "pip install")
        (venv / _READY).write_text(json.dumps(wanted))
    return str(python)


def _requirements() -> list[str]:
    """What the virtualenv must hold, with this Python; any difference from what it was made
    with means making it again."""
    pins = [f"{name}=={version(name)}" for name in ("jupyter_server", "tornado")]
    return [f"{PACKAGE}=={RELEASE}", *pins]


def _recorded(venv: Path) -> object:
    try:
        return json.loads((venv / _READY).read_text())
    except (OSError, ValueError):
        return None


def _run(command: list[str], what: str) -> None:
    try:
        subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=INSTALL_TIMEOUT, check=True)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"peer suite: {what} took over {INSTALL_TIMEOUT:g} s "
                           f"(is PyPI reachable?): {' '.join(command)}") from err
    except subprocess.CalledProcessError as err:
        lines = (err.stderr or err.stdout or "").strip().splitlines()
        tail = " | ".join([line for line in lines if not line.startswith("WARNING")][-3:])
        raise RuntimeError(f"peer suite: could not {what} for {PACKAGE}=={RELEASE} "
                           f"(exit {err.returncode}): {tail}") from err
