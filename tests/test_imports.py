"""Importing every module needs no credentials and touches no files."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import flows
import tasks

ROOT = Path(__file__).resolve().parents[1]


def module_names() -> list[str]:
    """Every module under flows/ and tasks/."""
    names = []
    for package in (flows, tasks):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            names.append(info.name)
    return names


def test_imports_have_no_side_effects(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIFELINE_", "SNOWFLAKE_", "AWS_", "PREFECT_"))
    }
    env |= {"HOME": str(home), "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    subprocess.run(
        [sys.executable, "-c", code, *module_names()], cwd=work, env=env, check=True, timeout=300
    )
    assert sorted(p.name for p in work.iterdir()) == []
    assert [p for p in home.rglob("*") if p.is_file()] == []
