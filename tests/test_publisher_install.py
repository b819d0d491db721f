"""The publisher-only distribution (``publisher/pyproject.toml``, ``jln-publisher``): its wheel
needs only redis-py and msgpack, and in a clean virtual environment holding nothing else the
library and ``jln send`` publish to a real Redis with no Jupyter importable. Offline: the wheel
is built without build isolation, and the environment reaches the two dependencies through a
``.pth`` file naming links to this environment's copies (no index, no download)."""

from __future__ import annotations

import email
import importlib.util
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.skipif(importlib.util.find_spec("hatchling") is None,
                                reason="building the wheel offline needs hatchling installed")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out), str(ROOT / "publisher")],
                   check=True, timeout=120)
    [built] = out.glob("jln_publisher-*.whl")
    return built


def test_the_publisher_wheel_requires_only_redis_and_msgpack(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        message = email.message_from_bytes(archive.read(metadata))
    required = {r.split(">")[0].split(";")[0].strip().lower()
                for r in message.get_all("Requires-Dist") or []}
    assert required == {"redis", "msgpack"}
    assert "jln_broker/publisher.py" in names
    assert not [n for n in names if n.startswith("jln_server/")]


def test_a_clean_environment_publishes_without_jupyter(wheel: Path, tmp_path: Path,
                                                       redis_url: str) -> None:
    env_dir, deps = tmp_path / "venv", tmp_path / "deps"
    venv.EnvBuilder(with_pip=False).create(env_dir)  # no system site-packages
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    with zipfile.ZipFile(wheel) as archive:  # a pure wheel: installing is unpacking
        archive.extractall(site)
    deps.mkdir()
    for package in ("redis", "msgpack"):
        (deps / package).symlink_to(Path(__import__(package).__file__).parent)
    (site / "deps.pth").write_text(f"{deps}\n")
    check = ("import importlib.util as u, sys\n"
             "from jln_broker import cli, publisher\n"
             "for name in ('notify', 'progress', 'http', 'reader'):  # each the library has\n"
             "    if u.find_spec(f'jln_broker.{name}'):\n"
             "        __import__(f'jln_broker.{name}')\n"
             "assert u.find_spec('jupyter_server') is None and u.find_spec('tornado') is None\n"
             "assert u.find_spec('IPython') is None, 'the check must run without Jupyter'\n"
             "sys.argv = ['jln', 'send', 'from a batch node', '--url', sys.argv[1]]\n"
             "cli.main()\n")
    done = subprocess.run([str(python), "-c", check, redis_url], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("jln:broadcast/")
    entries = redis.Redis.from_url(redis_url).xrange("jln:broadcast")
    assert len(entries) == 1
