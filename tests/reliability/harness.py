"""The crash harness: run one write step of the pipeline in a child process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.failpoints import ENV

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("ingest", "features", "train", "scores")


def child(step: str, home: Path, source: Path, point: str | None = None) -> subprocess.Popen:
    """Start one write step in its own process (armed with failpoint POINT)."""
    # The child gets its home from argv, not the parent's LIFELINE_ settings; the policy
    # file is shared so the harness runs the same steps as the in-process tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFELINE_")}
    if "LIFELINE_POLICY_FILE" in os.environ:
        env["LIFELINE_POLICY_FILE"] = os.environ["LIFELINE_POLICY_FILE"]
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
