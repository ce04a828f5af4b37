"""`make` on a machine without terraform or node says what is missing and how to get it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "prereqs.sh"


def prereqs(need: str, path: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    """Run the check with only PATH on the search path."""
    return subprocess.run(
        [shutil.which("sh"), str(SCRIPT), need],
        env={"PATH": path, "PYTHON": python},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bare_machine_is_told_what_to_install(tmp_path):
    done = prereqs("test", str(tmp_path))  # an empty PATH: no npm, no terraform
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["npm", "terraform"]
    assert "apt-get install nodejs npm" in lines[0]
    assert "developer.hashicorp.com/terraform/install" in lines[1]


def test_the_demo_needs_only_python_and_an_old_python_is_named(tmp_path):
    assert prereqs("demo", str(tmp_path)).returncode == 0
    old = tmp_path / "python3"
    old.write_text("#!/bin/sh\necho 'Python 3.8.10'\nexit 1\n")
    old.chmod(0o755)
    done = prereqs("demo", f"{tmp_path}:/usr/bin:/bin", python=str(old))
    assert done.returncode == 1
    assert "Python 3.11+" in done.stderr and "Python 3.8.10" in done.stderr


def test_this_machine_has_everything():
    assert prereqs("test", os.environ["PATH"]).stderr == ""
