"""Two runs for the same warehouse: exactly one publishes, the other fails fast and clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from tasks.guard import RunInProgressError, file_lock, publish_lock
from tasks.settings import load_settings
from tasks.warehouse.duckdb import DuckDBWarehouse

pytestmark = pytest.mark.scenario(15)


def race(target, n: int = 2) -> list:
    """Start N threads on TARGET at the same instant; return what each returned or raised."""
    barrier, out = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what we compare
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_same_publish_key_publishes_once_in_20_of_20_trials(tmp_path):
    settings = load_settings(home=tmp_path)
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    wh.bootstrap()
    lock = threading.Lock()  # DuckDB connections are not shared across threads unguarded

    for trial in range(20):

        def publish(i: int, trial: int = trial) -> str:
            with publish_lock(settings, f"run-{trial}-{i}"):
                with lock:
                    frame = pd.DataFrame(
                        {"CUSTOMER_ID": [f"C{trial}"], "AS_OF_DATE": pd.Timestamp("2025-01-01")}
                    )
                    frame["FLOW_RUN_ID"] = f"run-{trial}-{i}"
                    wh.write_frame(frame, "ML.CUSTOMER_SCORES", "append")
                time.sleep(0.2)  # still publishing when the other run arrives
            return "published"

        outcomes = race(publish)
        assert outcomes.count("published") == 1, outcomes
        [refused] = [o for o in outcomes if o != "published"]
        assert isinstance(refused, RunInProgressError) and "nothing was written" in str(refused)
    assert wh.row_count("ML.CUSTOMER_SCORES") == 20
    assert not (tmp_path / "locks" / "publish.lock").exists()
    wh.close()


def test_a_waiting_run_publishes_after_the_first_one(tmp_path):
    path = tmp_path / "publish.lock"

    def publish(i: int) -> float:
        with file_lock(path, f"run-{i}", wait_s=10):
            time.sleep(0.3)
            return time.monotonic()

    ends = race(publish)
    assert all(isinstance(e, float) for e in ends) and abs(ends[0] - ends[1]) >= 0.3


def test_a_killed_runs_lock_is_broken_not_obeyed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / "publish.lock"
    import socket

    holder = {"pid": int(dead.stdout), "host": socket.gethostname(), "run_id": "killed"}
    path.write_text(json.dumps(holder))
    with file_lock(path, "next-run"):
        assert json.loads(path.read_text())["run_id"] == "next-run"


def test_a_second_process_on_the_duckdb_file_gets_a_clear_error(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    code = (
        "import sys; from tasks.warehouse.duckdb import DuckDBWarehouse, WarehouseBusyError\n"
        "try:\n    DuckDBWarehouse(sys.argv[1])\n"
        "except WarehouseBusyError as e:\n    print('BUSY', e); sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "w.duckdb")],
        capture_output=True,
        text=True,
        cwd=os.getcwd(),
    )
    wh.close()
    assert done.returncode == 3 and "in use by another process" in done.stdout


def test_a_flow_run_started_while_another_publishes_fails_fast(
    prefect_harness, homes, portfolio, tmp_path, monkeypatch
):
    from flows.ingest import ingest_flow
    from tasks.prefect_tasks import PREFECT
    from tests.reliability.harness import copy_home
    from tests.reliability.snapshots import snapshot

    home = copy_home(homes["ingest"][0], tmp_path / "home")
    monkeypatch.setenv("LIFELINE_HOME", str(home))
    inside, release = threading.Event(), threading.Event()
    real = PREFECT.ingest_source.fn

    def slow_ingest(*args, **kwargs):
        inside.set()
        release.wait(120)  # the first run is mid-publish while the second one starts
        return real(*args, **kwargs)

    monkeypatch.setattr(PREFECT.ingest_source, "fn", slow_ingest)
    first: list = []
    runner = threading.Thread(
        target=lambda: first.append(ingest_flow(source=str(portfolio), return_state=True))
    )
    runner.start()
    assert inside.wait(120)
    second = ingest_flow(source=str(portfolio), return_state=True)
    release.set()
    runner.join(300)
    assert second.is_failed() and "another Lifeline run" in second.message
    assert first[0].is_completed()
    assert snapshot(home / "warehouse.duckdb") == snapshot(homes["ingest"][1] / "warehouse.duckdb")


def test_on_snowflake_the_prefect_concurrency_limit_serialises_runs(prefect_harness, tmp_path):
    from tasks.blocks import ensure_publish_limit

    settings = load_settings(home=tmp_path, target="snowflake", snowflake_database="LIFELINE_IT")
    ensure_publish_limit("lifeline-publish-lifeline_it")

    def publish(i: int) -> str:
        with publish_lock(settings, f"run-{i}"):
            time.sleep(3)  # longer than the other run's 1 s wait
        return "published"

    outcomes = race(publish)
    assert outcomes.count("published") == 1, outcomes
    assert any(isinstance(o, RunInProgressError) for o in outcomes)


def test_on_snowflake_a_missing_limit_is_an_error_not_a_free_pass(prefect_harness, tmp_path):
    settings = load_settings(home=tmp_path, target="snowflake", snowflake_database="NO_LIMIT")
    lock = publish_lock(settings, "run-x")
    with pytest.raises(Exception, match="lifeline-publish-no_limit"):  # noqa: PT011
        lock.__enter__()
