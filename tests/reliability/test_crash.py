"""Crash consistency: SIGKILL a write step anywhere; every table is pre-run or post-run."""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from tasks.failpoints import POINTS
from tests.reliability.harness import child, copy_home, run
from tests.reliability.snapshots import TABLES, snapshot


def leftover_staging(home: Path) -> list[str]:
    """Staging tables still in the warehouse."""
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'STG_%'"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def check_trial(homes, step: str, home: Path, portfolio: Path) -> None:
    """Every table equals its pre- or post-run snapshot; a clean re-run converges."""
    pre_home, post_home, _ = homes[step]
    pre, post = snapshot(pre_home / "warehouse.duckdb"), snapshot(post_home / "warehouse.duckdb")
    now = snapshot(home / "warehouse.duckdb")
    for table in TABLES:
        assert now[table] in (pre[table], post[table]), f"{table} is partially written"
    assert run(step, home, portfolio) == 0
    assert snapshot(home / "warehouse.duckdb") == post
    assert leftover_staging(home) == []


# Scoring children load MLflow (~10 s each): two of its three points run in make test-e2e.
SLOW = {"scores.after_staging", "scores.after_publish"}


@pytest.mark.scenario(2)
@pytest.mark.parametrize(
    "point", [pytest.param(p, marks=pytest.mark.e2e) if p in SLOW else p for p in POINTS]
)
def test_sigkill_at_each_failpoint(homes, portfolio, tmp_path, point):
    step = point.split(".")[0]
    home = copy_home(homes[step][0], tmp_path / "home")
    assert run(step, home, portfolio, point) == -signal.SIGKILL, f"{point} was never reached"
    check_trial(homes, step, home, portfolio)


@pytest.mark.e2e
@pytest.mark.scenario(2)
@pytest.mark.parametrize("step", ["ingest", "features", "scores"])
def test_sigkill_at_random_moments(homes, portfolio, tmp_path, step):
    rng = random.Random(f"crash-{step}")
    duration = homes[step][2]
    for trial in range(20):
        home = copy_home(homes[step][0], tmp_path / f"home{trial}")
        proc = child(step, home, portfolio)
        time.sleep(rng.uniform(0.5, duration))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=600)
        check_trial(homes, step, home, portfolio)
        shutil.rmtree(home)


def test_a_failpoint_raises_or_holds_the_run_as_asked(monkeypatch):
    from tasks.failpoints import ENV, FailpointError, failpoint

    monkeypatch.setenv(ENV, "features.after_staging:raise")
    failpoint("ingest.before_publish")  # another point: nothing happens
    with pytest.raises(FailpointError, match="features.after_staging"):
        failpoint("features.after_staging")
    monkeypatch.setenv(ENV, "features.after_staging:sleep=0.3")
    started = time.monotonic()
    failpoint("features.after_staging")
    assert time.monotonic() - started >= 0.3  # held there, then carried on
