"""Configuration is documented where people look for it."""

from __future__ import annotations

import subprocess
import sys

from jln_server.app import JLN


def test_help_all_documents_every_setting() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "from jln_server.app import main; main(['--help-all'])"],
        capture_output=True, text=True, timeout=60, check=True).stdout

    settings = JLN.class_own_traits(config=True)
    assert settings, "JLN has no settings?"
    for name, trait in settings.items():
        assert f"--JLN.{name}=" in shown, name
        assert trait.help and trait.help.split()[0] in shown, f"{name} has no help text shown"
