"""Retries, ambiguous commits, flow retries, caching and result storage under Prefect."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
import yaml
from prefect import flow, task

from tasks import ingest
from tasks.prefect_tasks import PREFECT
from tasks.settings import load_settings
from tasks.warehouse import open_warehouse
from tasks.warehouse.duckdb import DuckDBWarehouse
from tests.reliability.harness import copy_home
from tests.reliability.snapshots import snapshot

ROOT = Path(__file__).resolve().parents[2]
# The production retry policy, with short delays so the test takes seconds, not minutes.
FAST = PREFECT.ingest_source.with_options(retry_delay_seconds=0.2)


@flow
def ingest_probe(home: str, source: str) -> int:
    """Ingest SOURCE into HOME through the real (retrying) ingest task."""
    wh = open_warehouse(load_settings(home=home))
    try:
        return FAST(wh, source, {}, "probe", None, "2100-01-01").rows_loaded
    finally:
        wh.close()


def flaky(monkeypatch, failures: int, error: Exception) -> list[float]:
    """Make the ingest function raise ERROR on its first FAILURES calls; return call times."""
    calls: list[float] = []
    real = FAST.fn

    def wrapper(*args, **kwargs):
        calls.append(time.monotonic())
        if len(calls) <= failures:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(FAST, "fn", wrapper)
    return calls


def test_production_retry_policy_is_backoff_with_jitter_on_network_tasks_only():
    for name in ("ingest_source", "publish_features", "train_models", "stage_scores"):
        t = getattr(PREFECT, name)
        assert t.retries == 3 and t.retry_jitter_factor == 0.5, name
        assert t.retry_delay_seconds == [5, 10, 20] and t.retry_condition_fn, name
    for name in ("validate_dataset", "register_models", "stage_features", "monitor_drift"):
        assert getattr(PREFECT, name).retries == 0, name  # not idempotent or not networked


@pytest.mark.scenario(16)
def test_transient_errors_twice_then_success_writes_once(
    prefect_harness, homes, portfolio, tmp_path, monkeypatch
):
    from snowflake.connector.errors import OperationalError

    home = copy_home(homes["ingest"][0], tmp_path / "home")
    calls = flaky(monkeypatch, 2, OperationalError("connection reset by peer"))
    ingest_probe(str(home), str(portfolio))
    assert len(calls) == 3
    assert snapshot(home / "warehouse.duckdb") == snapshot(homes["ingest"][1] / "warehouse.duckdb")


@pytest.mark.scenario(16)
def test_retry_delays_are_jittered(prefect_harness, homes, tmp_path, monkeypatch):
    from snowflake.connector.errors import OperationalError

    gaps = []
    for i in range(10):
        calls = flaky(monkeypatch, 1, OperationalError("timeout"))
        empty = tmp_path / f"empty{i}"
        empty.mkdir()
        (empty / "t.csv").write_text("customer_id,txn_ts,amount\nA,2025-01-01,1\n")
        ingest_probe(str(copy_home(homes["ingest"][0], tmp_path / f"h{i}")), str(empty))
        gaps.append(calls[1] - calls[0])
    assert statistics.pvariance(gaps) > 0 and min(gaps) >= 0.05


@pytest.mark.scenario(16)
def test_bad_data_is_not_retried(prefect_harness, homes, portfolio, tmp_path, monkeypatch):
    home = copy_home(homes["ingest"][0], tmp_path / "home")
    calls = flaky(monkeypatch, 5, ingest.IngestError("x.csv row 3: column amount is not a number"))
    state = ingest_probe(str(home), str(portfolio), return_state=True)
    assert state.is_failed() and len(calls) == 1


@pytest.mark.scenario(17)
def test_ambiguous_commit_then_retry_is_a_no_op(
    prefect_harness, homes, portfolio, tmp_path, monkeypatch
):
    home = copy_home(homes["ingest"][0], tmp_path / "home")
    commits = []
    real_commit = DuckDBWarehouse.commit

    def commit_then_time_out(self):
        real_commit(self)  # the server committed ...
        commits.append(1)
        if len(commits) == 1:
            raise TimeoutError("... but the client never heard back")

    monkeypatch.setattr(DuckDBWarehouse, "commit", commit_then_time_out)
    attempts = flaky(monkeypatch, 0, RuntimeError("unused"))
    ingest_probe(str(home), str(portfolio))
    assert len(attempts) == 2  # the retry ran, found the file in the manifest, skipped it
    assert snapshot(home / "warehouse.duckdb") == snapshot(homes["ingest"][1] / "warehouse.duckdb")


@pytest.mark.scenario(19)
def test_flow_retry_does_not_duplicate_upstream_writes(
    prefect_harness, homes, portfolio, tmp_path, monkeypatch
):
    home = copy_home(homes["ingest"][0], tmp_path / "home")
    ingests = flaky(monkeypatch, 0, RuntimeError("unused"))
    attempts = []

    @task
    def downstream() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("downstream failed once")

    @flow(retries=1, retry_delay_seconds=0)
    def pipeline_probe() -> None:
        ingest_probe.fn(str(home), str(portfolio))
        downstream()

    pipeline_probe()
    assert len(ingests) == 2 and len(attempts) == 2  # upstream really ran twice ...
    assert snapshot(home / "warehouse.duckdb") == snapshot(homes["ingest"][1] / "warehouse.duckdb")


@pytest.mark.scenario(21)
def test_no_task_hashes_a_live_connection(prefect_harness, homes, portfolio, tmp_path, caplog):
    from prefect.cache_policies import NO_CACHE
    from prefect.tasks import Task

    for name, bound in vars(PREFECT).items():
        assert isinstance(bound, Task) and bound.cache_policy is NO_CACHE, name
    home = copy_home(homes["ingest"][0], tmp_path / "home")
    ingest_probe(str(home), str(portfolio))
    assert "Error encountered when computing cache key" not in caplog.text


@pytest.mark.scenario(22)
def test_every_deployment_persists_results_to_remote_storage():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        env = deployment["work_pool"]["job_variables"]["env"]
        assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true", deployment["name"]
        assert env["PREFECT_DEFAULT_RESULT_STORAGE_BLOCK"] == "{{ $LIFELINE_RESULT_STORAGE }}"
    for name in ("dev", "prod"):
        values = dict(
            line.split("=", 1)
            for line in (ROOT / "deployments" / f"{name}.env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        assert values["LIFELINE_RESULT_STORAGE"].startswith("s3-bucket/"), name
