"""Reliability fixtures: homes before/after each write step, step runner processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.failpoints import ENV
from tasks.settings import load_settings
from tasks.warehouse import open_warehouse

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("ingest", "features", "train", "scores")


def child(step: str, home: Path, source: Path, point: str | None = None) -> subprocess.Popen:
    """Start one write step in its own process (armed with failpoint POINT)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFELINE_")}
    if point:
        env[ENV] = point
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.crash_child", step, str(home), str(source)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(step: str, home: Path, source: Path, point: str | None = None) -> int:
    """Run a step to its end; its exit code (negative: killed by that signal)."""
    proc = child(step, home, source, point)
    out, _ = proc.communicate(timeout=600)
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"{step} exited {proc.returncode}:\n{out}")
    return proc.returncode


def copy_home(src: Path, dst: Path) -> Path:
    """A private copy of a Lifeline home (warehouse + MLflow) for one trial."""
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="session")
def homes(portfolio, tmp_path_factory) -> dict[str, tuple[Path, Path, float]]:
    """For each step: (home before it, home after a clean run of it, its clean duration)."""
    base = tmp_path_factory.mktemp("crash")
    before = base / "0-empty"
    open_warehouse(load_settings(home=before)).close()
    out = {}
    for i, step in enumerate(STEPS, 1):
        after = copy_home(before, base / f"{i}-{step}")
        started = time.monotonic()
        assert run(step, after, portfolio) == 0
        out[step] = (before, after, time.monotonic() - started)
        before = after
    return out
